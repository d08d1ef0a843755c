package graph

// CrossEntropy describes a softmax cross-entropy loss as PyTorch's
// nn.CrossEntropyLoss defines it: with class weights w and label smoothing ε
// the target distribution is q = (1-ε)·onehot(y) + ε/C and the per-example
// loss l_i = -Σ_c w_c q_ic log softmax(z_i)_c; the mean is Σ_i l_i / Σ_i w_{y_i}
// (Σ_i 1 = N without weights).
//
// ExampleWeights, when set, names an [N] tensor e of per-example factors
// (negative ones ascend): the mean becomes Σ_i e_i l_i / N (/ Σ_i w_{y_i}
// with class weights), which with every e_i = 1 is the plain mean bit for
// bit (a product by 1 is exact). The per-example losses stay unweighted.
type CrossEntropy struct {
	Weights        string  // optional [C] float tensor of class weights
	LabelSmoothing float64 // ε in [0, 1)
	ExampleWeights string  // optional [N] float tensor of per-example factors
}

// CrossEntropyLoss appends the loss of logits [N, C] against int64 labels
// [N] and returns the per-example losses [N] and their (weighted) mean.
func (g *Graph) CrossEntropyLoss(logits, labels string, ce CrossEntropy) (perExample, mean string) {
	zi := g.info[logits]
	dt := zi.DType
	c := int64(-1)
	if len(zi.Shape) == 2 {
		c = zi.Shape[1]
	}
	eps := ce.LabelSmoothing
	logp := g.Op1("LogSoftmax", []string{logits}, AInt("axis", 1))
	off, on := eps/float64(c), 1-eps+eps/float64(c)
	// One-hot through Equal and Where: ONNX Runtime's OneHot has no double kernel.
	classes := make([]int64, c)
	for i := range classes {
		classes[i] = int64(i)
	}
	hit := g.Op1("Equal", []string{g.Op1("Unsqueeze", []string{labels, g.ConstI(1)}), g.ConstI(classes...)})
	q := g.Op1("Where", []string{hit, g.ScalarF(dt, on), g.ScalarF(dt, off)})
	if ce.Weights != "" {
		q = g.Op1("Mul", []string{q, ce.Weights})
	}
	s := g.Op1("ReduceSum", []string{g.Op1("Mul", []string{q, logp}), g.ConstI(1)}, AInt("keepdims", 0))
	perExample = g.Op1("Neg", []string{s})
	terms := perExample
	if ce.ExampleWeights != "" {
		terms = g.Op1("Mul", []string{perExample, ce.ExampleWeights})
	}
	if ce.Weights == "" {
		mean = g.Op1("ReduceMean", []string{terms}, AInt("keepdims", 0))
	} else {
		wsum := g.Op1("ReduceSum", []string{g.Op1("Gather", []string{ce.Weights, labels}, AInt("axis", 0))}, AInt("keepdims", 0))
		mean = g.Op1("Div", []string{g.Op1("ReduceSum", []string{terms}, AInt("keepdims", 0)), wsum})
		g.info[mean] = Info{dt, []int64{}}
	}
	return perExample, mean
}

// DistillKL appends the per-example distillation term of Hinton et al.
// (2015) between a teacher's logits t and the logits z, both [N, C], at
// temperature T > 0: T²·KL(softmax(t/T) ‖ softmax(z/T)) = T²·Σ_c p_c (log p_c
// − log softmax(z/T)_c) with p = softmax(t/T), [N]. The T² keeps its
// gradient's scale independent of T. The teacher is a constant: no gradient
// flows into it unless it depends on the differentiated values.
func (g *Graph) DistillKL(logits, teacher string, temperature float64) string {
	dt := g.info[logits].DType
	scaled := func(v string) string {
		if temperature == 1 {
			return v
		}
		return g.Op1("Mul", []string{v, g.ScalarF(dt, 1/temperature)})
	}
	tz := scaled(teacher)
	logp := g.Op1("LogSoftmax", []string{tz}, AInt("axis", 1))
	p := g.Op1("Softmax", []string{tz}, AInt("axis", 1))
	logq := g.Op1("LogSoftmax", []string{scaled(logits)}, AInt("axis", 1))
	kl := g.Op1("ReduceSum", []string{g.Op1("Mul", []string{p, g.Op1("Sub", []string{logp, logq})}), g.ConstI(1)}, AInt("keepdims", 0))
	if temperature == 1 {
		return kl
	}
	return g.Op1("Mul", []string{kl, g.ScalarF(dt, temperature*temperature)})
}
