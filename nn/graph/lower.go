package graph

import (
	"fmt"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

type fusedKind int

const (
	fusedBatchNorm fusedKind = iota + 1
	fusedMaxPool
)

// fusedGrad marks a node whose gradient is derived by hand over a larger
// piece of graph: a BatchNormalization fed its own batch statistics, or a
// MaxPool rewritten as a ReduceMax over its input's SpaceToDepth (see
// poolBySpaceToDepth).
type fusedGrad struct {
	kind              fusedKind
	x, mean, variance string // batch statistics, [C]
	count             string // examples per channel (scalar)
	eps               float64
	pool              *onnx.NodeProto // fusedMaxPool: the MaxPool node it was, reading x
}

// RunningUpdate names, for one batch-normalisation layer in training mode, the
// running statistics read and their updated values computed by the graph.
type RunningUpdate struct {
	Mean, Var       string // running statistics (inputs or initializers)
	NewMean, NewVar string // their updates: momentum*old + (1-momentum)*batch
}

// LowerBatchNormTraining rewrites every BatchNormalization node into
// training mode: normalisation by the batch's mean and (biased) variance, in
// standard operators, with the running statistics updated as ONNX defines
// (running = momentum*running + (1-momentum)*batch, the variance unbiased as
// PyTorch keeps it). ONNX Runtime's release builds do not run
// BatchNormalization with training_mode=1, hence the rewrite: the batch
// statistics are computed in standard operators and fed to an inference-mode
// BatchNormalization, whose gradient (through the statistics too) Gradients
// emits in closed form.
func (g *Graph) LowerBatchNormTraining() ([]RunningUpdate, error) {
	old := g.Nodes
	g.Nodes = nil
	if g.fused == nil {
		g.fused = map[string]fusedGrad{}
	}
	var ups []RunningUpdate
	for _, n := range old {
		if n.OpType != "BatchNormalization" {
			g.Nodes = append(g.Nodes, n)
			continue
		}
		up, err := g.lowerBN(n)
		if err != nil {
			return nil, err
		}
		ups = append(ups, up)
	}
	return ups, nil
}

func (g *Graph) lowerBN(n *onnx.NodeProto) (RunningUpdate, error) {
	in := n.Input
	x := in[0]
	xs := g.info[x].Shape
	cs := g.info[in[1]].Shape
	if len(xs) < 2 || len(cs) != 1 || cs[0] < 0 {
		return RunningUpdate{}, &UnsupportedOpError{Op: "BatchNormalization", Node: n.Name, Why: "rank and channel count must be known"}
	}
	dt := g.info[x].DType
	c := cs[0]
	eps := float64(FloatAttr(n, "epsilon", 1e-5))
	mom := float64(FloatAttr(n, "momentum", 0.9))
	axes := spatialAxes(len(xs))
	flat := g.ConstI(c)
	// Batch statistics: mean, and the biased variance from the deviations
	// (ReduceSumSquare does not materialise their squares).
	mean := g.Op1("ReduceMean", []string{x}, AInts("axes", axes...), AInt("keepdims", 1))
	dev := g.Op1("Sub", []string{x, mean})
	cnt := g.Op1("Div", []string{g.Op1("Cast", []string{g.Op1("Size", []string{x})}, AInt("to", int64(dt))), g.ScalarF(dt, float64(c))})
	ss := g.Op1("ReduceSumSquare", []string{dev}, AInts("axes", axes...), AInt("keepdims", 0))
	bm := g.Op1("Reshape", []string{mean, flat})
	bv := g.Op1("Div", []string{ss, cnt})
	// Normalisation by them is an inference-mode BatchNormalization: one
	// pass, whose gradient Gradients emits in closed form.
	g.OpNamed("BatchNormalization", []string{x, in[1], in[2], bm, bv}, []string{n.Output[0]}, AFloat("epsilon", float32(eps)))
	g.fused[n.Output[0]] = fusedGrad{kind: fusedBatchNorm, x: x, mean: bm, variance: bv, count: cnt, eps: eps}

	// Running statistics, the variance unbiased: n/(n-1), n = size/C.
	unbias := g.Op1("Div", []string{cnt, g.Op1("Sub", []string{cnt, g.ScalarF(dt, 1)})})
	newMean := g.Op1("Add", []string{g.Op1("Mul", []string{in[3], g.ScalarF(dt, mom)}), g.Op1("Mul", []string{bm, g.ScalarF(dt, 1-mom)})})
	newVar := g.Op1("Add", []string{g.Op1("Mul", []string{in[4], g.ScalarF(dt, mom)}), g.Op1("Mul", []string{g.Op1("Mul", []string{bv, unbias}), g.ScalarF(dt, 1-mom)})})
	return RunningUpdate{Mean: in[3], Var: in[4], NewMean: newMean, NewVar: newVar}, nil
}

// DropoutMask names a graph input that FeedDropoutMasks made: a training
// step fills it with 0 (dropped) or 1/(1-Ratio) (kept) for every element.
type DropoutMask struct {
	Input string
	Ratio float64
}

// FeedDropoutMasks turns every Dropout node into training mode with its
// mask fed as a graph input, y = x · mask. Dropout's own seed attribute
// would not do for resumable training: ONNX Runtime seeds a kernel's
// generator once per session, so a new session (a resumed run) replays the
// first masks instead of drawing those an uninterrupted run would; masks
// the caller draws from its seed and step have no such history.
func (g *Graph) FeedDropoutMasks() ([]DropoutMask, error) {
	var masks []DropoutMask
	users := g.Consumers()
	for _, n := range g.Nodes {
		if n.OpType != "Dropout" {
			continue
		}
		x := n.Input[0]
		ratio := 0.5
		if len(n.Input) > 1 && n.Input[1] != "" {
			t, ok := g.Inits[n.Input[1]]
			switch {
			case ok && len(t.F32) == 1:
				ratio = float64(t.F32[0])
			case ok && len(t.F64) == 1:
				ratio = t.F64[0]
			default:
				return nil, fmt.Errorf("dropout %s: the ratio must be a constant", n.Name)
			}
		}
		if !(ratio >= 0 && ratio < 1) {
			return nil, fmt.Errorf("dropout %s: ratio %v, want [0, 1)", n.Name, ratio)
		}
		if len(n.Output) > 1 && n.Output[1] != "" && len(users[n.Output[1]]) > 0 {
			return nil, fmt.Errorf("dropout %s: its mask output is used", n.Name)
		}
		info := g.info[x]
		if info.DType != Float || len(info.Shape) == 0 || info.Shape[0] >= 0 || slices.ContainsFunc(info.Shape[1:], func(d int64) bool { return d < 0 }) {
			return nil, fmt.Errorf("dropout %s: input %s is %v of shape %v; want float32 with only the batch axis unknown", n.Name, x, info.DType, info.Shape)
		}
		mask := g.AddInput(g.Fresh("dropout_mask"), Float, info.Shape...)
		masks = append(masks, DropoutMask{Input: mask, Ratio: ratio})
		n.OpType, n.Input, n.Output, n.Attribute = "Mul", []string{x, mask}, n.Output[:1], nil
		g.Infer(n)
	}
	return masks, nil
}
