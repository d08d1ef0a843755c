package attack

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/sjwhitworth/golearn/base"
	"github.com/sjwhitworth/golearn/trees"
)

// Forest is a random forest of ID3 decision trees whose splits golearn
// chooses (trees.InformationGainRuleGenerator: the numeric threshold of
// the feature with the largest information gain), bagged the way golearn's
// ensemble.RandomForest bags them: each tree sees a bootstrap sample of the
// rows and a random subset of the features, and, as in golearn's ID3, a
// feature split on is not split on again below. A row's score is the
// trees' mean fraction of positive training rows in the leaf it reaches.
//
// Three things are done here rather than by golearn, each for a defect:
// ensemble.RandomForest draws from the global math/rand source in
// concurrent goroutines, so its forests cannot be reproduced from a seed
// (the randomness here comes from the caller's seeded source); it returns
// majority votes only (no score for a ROC); and trees.InferID3Tree
// iterates a node's rows through a Go map, whose order is random, which
// reorders floating-point sums, and its rule generator lists the candidate
// features through a map too, so that features giving the same partition
// (confidence, loss and probability do) win ties at random; it also stops
// one feature early (it tests for two attributes left where it means
// one). The recursion is therefore done here, over grids that keep the
// rows in order, asking golearn's rule generator for each node's split
// among the features in a fixed order.
type Forest struct {
	Trees        int
	TreeFeatures int // 0: half the features, rounded up
}

// NewForest returns a forest of trees trees (0: 20) seeing treeFeatures
// features each (0: half, rounded up).
func NewForest(trees, treeFeatures int) *Forest {
	if trees <= 0 {
		trees = 20
	}
	return &Forest{Trees: trees, TreeFeatures: treeFeatures}
}

// Name is "rf".
func (*Forest) Name() string { return NameForest }

// Fit grows the trees; rng must not be nil.
func (f *Forest) Fit(x []float64, d int, y []bool, rng *rand.Rand) (Model, error) {
	if err := checkFit(x, d, y); err != nil {
		return nil, err
	}
	if rng == nil {
		return nil, fmt.Errorf("a random forest needs a random source")
	}
	k := f.TreeFeatures
	if k <= 0 || k > d {
		k = (d + 1) / 2
	}
	n := len(y)
	g := &id3Grower{x: x, d: d, y: y, schema: newGridSchema(d)}
	m := &forestModel{trees: make([]*id3Node, f.Trees)}
	for t := range m.trees {
		rows := make([]int, n)
		for i := range rows {
			rows[i] = rng.IntN(n)
		}
		feats := rng.Perm(d)[:k]
		slices.Sort(feats)
		root, err := g.grow(rows, feats)
		if err != nil {
			return nil, err
		}
		m.trees[t] = root
	}
	return m, nil
}

// id3Node is a node of a tree: a leaf when feature < 0.
type id3Node struct {
	posFrac float64 // fraction of the node's training rows that are positive
	feature int
	split   float64
	le, gt  *id3Node // value <= split, value > split (golearn's "0" and "1")
}

type id3Grower struct {
	x      []float64
	d      int
	y      []bool
	schema *gridSchema
}

// grow builds the subtree of rows (indices into x, repeats allowed) that
// may split on feats.
func (g *id3Grower) grow(rows, feats []int) (*id3Node, error) {
	pos := 0
	for _, r := range rows {
		if g.y[r] {
			pos++
		}
	}
	node := &id3Node{posFrac: float64(pos) / float64(len(rows)), feature: -1}
	if pos == 0 || pos == len(rows) || len(feats) == 0 {
		return node, nil
	}
	// GenerateSplitRule would list the candidate attributes through a
	// map, in random order, and ties go to the first; they are given in
	// feature order instead.
	candidates := make([]base.Attribute, len(feats))
	for k, j := range feats {
		candidates[k] = g.schema.feats[j]
	}
	rule := new(trees.InformationGainRuleGenerator).GetSplitRuleFromSelection(candidates, g.schema.grid(g.x, g.d, rows, feats, g.y))
	if rule == nil || rule.SplitAttr == nil {
		return node, nil
	}
	j, err := strconv.Atoi(rule.SplitAttr.GetName()[1:])
	if err != nil || !slices.Contains(feats, j) {
		return nil, fmt.Errorf("golearn split on unknown attribute %q", rule.SplitAttr.GetName())
	}
	var le, gt []int
	for _, r := range rows {
		if g.x[r*g.d+j] > rule.SplitVal {
			gt = append(gt, r)
		} else {
			le = append(le, r)
		}
	}
	if len(le) == 0 || len(gt) == 0 {
		return node, nil
	}
	rest := slices.DeleteFunc(slices.Clone(feats), func(f int) bool { return f == j })
	node.feature, node.split = j, rule.SplitVal
	if node.le, err = g.grow(le, rest); err != nil {
		return nil, err
	}
	if node.gt, err = g.grow(gt, rest); err != nil {
		return nil, err
	}
	return node, nil
}

type forestModel struct {
	trees []*id3Node
}

func (m *forestModel) Score(x []float64, d int, dst []float64) error {
	for i := range dst {
		row := x[i*d : (i+1)*d]
		s := 0.0
		for _, node := range m.trees {
			for node.feature >= 0 {
				if row[node.feature] > node.split {
					node = node.gt
				} else {
					node = node.le
				}
			}
			s += node.posFrac
		}
		dst[i] = s / float64(len(m.trees))
	}
	return nil
}

// Positive is the majority of the trees' probability mass.
func (m *forestModel) Positive(s float64) bool { return s > 0.5 }
