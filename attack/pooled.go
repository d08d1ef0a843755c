package attack

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
)

// Pooled is the attacker that shares what it learns across forget examples:
// one classifier over every (model, example) row of both populations, the
// unlearned rows positive. Each row's features are first centred on the
// retrained population's mean for that example (computed from the
// training folds' retrained models only), so that what the classifier
// learns is how a model departs from a retrained one, not which example it
// is looking at. Cross-validation is stratified k-fold over models: all of
// a model's rows are held out together, so no fold trains on the model it
// scores.
type Pooled struct {
	Classifier Classifier
	Folds      int
	Seed       uint64
	// MaxTrainRows caps each fold's training rows with a seeded sample,
	// half from each population (0: no cap); kNN and random forests need
	// it on large populations.
	MaxTrainRows int
	// Workers trains folds in parallel (0: GOMAXPROCS).
	Workers int
	// Features names the columns in warnings (optional).
	Features []string
}

// PooledOutcome is a pooled attack's result.
type PooledOutcome struct {
	// All holds every row's held-out score, the unlearned model i's row
	// on example e at PosScores[i*E+e] (NegScores likewise), and the
	// decisions' counts over all rows; All.Rules is nil.
	All *Outcome
	// Examples[e] is example e's rows: their held-out scores, decisions
	// and threshold rules, for a per-example epsilon.
	Examples []*Outcome
	Warnings []string
}

// Run cross-validates the pooled classifier.
func (p *Pooled) Run(u, r *FeatureSet) (*PooledOutcome, error) {
	if u.N != r.N || u.E != r.E || u.D() != r.D() {
		return nil, fmt.Errorf("pooled attack: the populations are %dx%dx%d and %dx%dx%d (models x examples x features); want the same", u.N, u.E, u.D(), r.N, r.E, r.D())
	}
	if p.Folds < 2 {
		return nil, fmt.Errorf("cross-validation needs at least 2 folds, have %d", p.Folds)
	}
	n, nEx, d := u.N, u.E, u.D()
	if err := checkSamples(Sample{X: u.X, D: d}, Sample{X: r.X, D: d}); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(p.Seed, 0))
	groups := make([]int, n)
	for i := range groups {
		groups[i] = i
	}
	// One row per model: the fold dealing only needs the groups.
	uFold, err := dealFolds(Sample{X: make([]float64, n), D: 1, Group: groups}, p.Folds, rng, "unlearned")
	if err != nil {
		return nil, err
	}
	rFold, err := dealFolds(Sample{X: make([]float64, n), D: 1, Group: groups}, p.Folds, rng, "retrained")
	if err != nil {
		return nil, err
	}
	all := &Outcome{PosScores: make([]float64, n*nEx), NegScores: make([]float64, n*nEx), Decision: &Counts{}}
	posSaid := make([]bool, n*nEx)
	negSaid := make([]bool, n*nEx)

	workers := p.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, p.Folds))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var warn warnings
	errs := make([]error, p.Folds)
	sampled := make([][2]int, p.Folds)
	sem := make(chan struct{}, workers)
	for f := 0; f < p.Folds; f++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(f int) {
			defer func() { <-sem; wg.Done() }()
			var fw warnings
			errs[f] = p.fold(f, u, r, uFold, rFold, all, posSaid, negSaid, &fw, &sampled[f])
			mu.Lock()
			for s := range fw.seen {
				warn.add(s)
			}
			mu.Unlock()
		}(f)
	}
	wg.Wait()
	for f, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("fold %d of %d: %w", f+1, p.Folds, err)
		}
	}
	if sampled[0][0] > 0 {
		lo, hi := sampled[0][1], sampled[0][1]
		for _, s := range sampled {
			lo, hi = min(lo, s[1]), max(hi, s[1])
		}
		span := fmt.Sprint(lo)
		if hi > lo {
			span = fmt.Sprintf("%d to %d", lo, hi)
		}
		warn.add(fmt.Sprintf("each fold trained on a random %d of its %s rows (MaxTrainRows)", sampled[0][0], span))
	}
	for i := range posSaid {
		if posSaid[i] {
			all.Decision.TP++
		} else {
			all.Decision.FN++
		}
		if negSaid[i] {
			all.Decision.FP++
		} else {
			all.Decision.TN++
		}
	}
	out := &PooledOutcome{All: all, Warnings: warn.list()}
	out.Examples, err = SplitByExample(p.Classifier.Name(), all.PosScores, all.NegScores, n, n, nEx, posSaid, negSaid)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// fold trains on the models outside fold f and scores those inside.
// When it trains on a sample of its rows, sampled says how many of how
// many.
func (p *Pooled) fold(f int, u, r *FeatureSet, uFold, rFold []int, all *Outcome, posSaid, negSaid []bool, warn *warnings, sampled *[2]int) error {
	n, nEx, d := u.N, u.E, u.D()
	rng := rand.New(rand.NewPCG(p.Seed, uint64(1+f)))
	// Centres: the training retrained models' mean features per example.
	centre := make([]float64, nEx*d)
	nTrainR := 0
	for j := 0; j < n; j++ {
		if rFold[j] == f {
			continue
		}
		nTrainR++
		for e := 0; e < nEx; e++ {
			row := r.Row(j, e)
			for k, v := range row {
				centre[e*d+k] += v
			}
		}
	}
	for k := range centre {
		centre[k] /= float64(nTrainR)
	}
	type rowRef struct {
		model, example int
		pos            bool
	}
	var train, test []rowRef
	for i := 0; i < n; i++ {
		for e := 0; e < nEx; e++ {
			if uFold[i] == f {
				test = append(test, rowRef{i, e, true})
			} else {
				train = append(train, rowRef{i, e, true})
			}
			if rFold[i] == f {
				test = append(test, rowRef{i, e, false})
			} else {
				train = append(train, rowRef{i, e, false})
			}
		}
	}
	if p.MaxTrainRows > 0 && len(train) > p.MaxTrainRows {
		var pos, neg []rowRef
		for _, t := range train {
			if t.pos {
				pos = append(pos, t)
			} else {
				neg = append(neg, t)
			}
		}
		half := p.MaxTrainRows / 2
		train = train[:0]
		for _, side := range [][]rowRef{pos, neg} {
			for k, idx := range rng.Perm(len(side)) {
				if k >= half {
					break
				}
				train = append(train, side[idx])
			}
		}
		*sampled = [2]int{len(train), len(pos) + len(neg)}
	}
	gather := func(refs []rowRef) ([]float64, []bool) {
		x := make([]float64, 0, len(refs)*d)
		y := make([]bool, len(refs))
		for k, t := range refs {
			var row []float64
			if t.pos {
				row = u.Row(t.model, t.example)
			} else {
				row = r.Row(t.model, t.example)
			}
			for j, v := range row {
				x = append(x, v-centre[t.example*d+j])
			}
			y[k] = t.pos
		}
		return x, y
	}
	trainX, trainY := gather(train)
	testX, _ := gather(test)
	scores := make([]float64, len(test))
	model, err := fitScore(p.Classifier, p.Features, trainX, d, trainY, testX, scores, rng, warn)
	if err != nil {
		return err
	}
	for k, t := range test {
		at := t.model*nEx + t.example
		if t.pos {
			all.PosScores[at], posSaid[at] = scores[k], model.Positive(scores[k])
		} else {
			all.NegScores[at], negSaid[at] = scores[k], model.Positive(scores[k])
		}
	}
	return nil
}

// SplitByExample cuts scores of nPos positive and nNeg negative models on
// nEx examples (model i's score on example e at [i*nEx+e]) into one outcome
// per example, with threshold rules on its scores named family and, when
// posSaid and negSaid are given, the counts of those decisions.
func SplitByExample(family string, pos, neg []float64, nPos, nNeg, nEx int, posSaid, negSaid []bool) ([]*Outcome, error) {
	if len(pos) != nPos*nEx || len(neg) != nNeg*nEx {
		return nil, fmt.Errorf("%d and %d scores for %d and %d models on %d examples", len(pos), len(neg), nPos, nNeg, nEx)
	}
	out := make([]*Outcome, nEx)
	for e := range out {
		o := &Outcome{PosScores: make([]float64, nPos), NegScores: make([]float64, nNeg)}
		if posSaid != nil {
			o.Decision = &Counts{}
		}
		for i := 0; i < nPos; i++ {
			o.PosScores[i] = pos[i*nEx+e]
			if posSaid != nil {
				if posSaid[i*nEx+e] {
					o.Decision.TP++
				} else {
					o.Decision.FN++
				}
			}
		}
		for j := 0; j < nNeg; j++ {
			o.NegScores[j] = neg[j*nEx+e]
			if negSaid != nil {
				if negSaid[j*nEx+e] {
					o.Decision.FP++
				} else {
					o.Decision.TN++
				}
			}
		}
		rules, err := NewScoreRules(family, o.PosScores, o.NegScores)
		if err != nil {
			return nil, &ExampleError{Example: e, Err: err}
		}
		o.Rules = rules
		out[e] = o
	}
	return out, nil
}
