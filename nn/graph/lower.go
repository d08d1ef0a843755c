package graph

import "github.com/advancedclimatesystems/gonnx/onnx"

type fusedKind int

const fusedBatchNorm fusedKind = iota + 1

// fusedGrad marks a node whose gradient is derived by hand over a larger
// piece of graph: a BatchNormalization fed its own batch statistics.
type fusedGrad struct {
	kind              fusedKind
	x, mean, variance string // batch statistics, [C]
	count             string // examples per channel (scalar)
	eps               float64
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

// EnableDropoutTraining turns every Dropout node into training mode with a
// mask output (for the gradient), its random draws seeded per node from
// seed. ONNX Runtime draws a fresh mask on every run.
func (g *Graph) EnableDropoutTraining(seed int64) {
	on := ""
	for i, n := range g.Nodes {
		if n.OpType != "Dropout" {
			continue
		}
		if on == "" {
			on = g.AddInit(g.Fresh("training_mode"), &Tensor{DType: Bool, Dims: []int64{}, I64: []int64{1}})
		}
		for len(n.Input) < 2 {
			n.Input = append(n.Input, "")
		}
		if n.Input[1] == "" {
			n.Input[1] = g.ScalarF(g.info[n.Input[0]].DType, 0.5)
		}
		if len(n.Input) < 3 {
			n.Input = append(n.Input, on)
		} else {
			n.Input[2] = on
		}
		if len(n.Output) < 2 {
			n.Output = append(n.Output, g.Fresh("dropout_mask"))
		}
		var attrs []*onnx.AttributeProto
		for _, a := range n.Attribute {
			if a.Name != "seed" {
				attrs = append(attrs, a)
			}
		}
		n.Attribute = append(attrs, AInt("seed", seed+int64(i)))
		g.Infer(n)
	}
}
