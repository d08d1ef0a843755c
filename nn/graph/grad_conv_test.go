package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

type convCfg struct {
	x, w          []int64
	strides, pads []int64
	dilations     []int64
	group         int64
	bias          bool
	dynBatch      bool // declare the batch size unknown (-1)
}

func TestGradConv(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	cfgs := []convCfg{
		{x: []int64{2, 3, 7, 6}, w: []int64{4, 3, 3, 3}, strides: []int64{1, 1}, pads: []int64{1, 1, 1, 1}, dilations: []int64{1, 1}, group: 1, bias: true},
		{x: []int64{2, 3, 9, 8}, w: []int64{4, 3, 3, 2}, strides: []int64{2, 3}, pads: []int64{1, 0, 2, 1}, dilations: []int64{2, 1}, group: 1},
		{x: []int64{1, 4, 8, 8}, w: []int64{6, 2, 3, 3}, strides: []int64{2, 2}, pads: []int64{1, 1, 1, 1}, dilations: []int64{1, 1}, group: 2, bias: true},
		{x: []int64{2, 4, 6, 6}, w: []int64{4, 1, 3, 3}, strides: []int64{1, 1}, pads: []int64{0, 0, 0, 0}, dilations: []int64{1, 1}, group: 4, bias: true},
		{x: []int64{2, 3, 10}, w: []int64{5, 3, 4}, strides: []int64{2}, pads: []int64{1, 2}, dilations: []int64{1}, group: 1, bias: true},
		{x: []int64{3, 2, 5, 5}, w: []int64{3, 2, 1, 1}, strides: []int64{2, 2}, pads: []int64{0, 0, 0, 0}, dilations: []int64{1, 1}, group: 1},
		// Unit strides, input no smaller than output: the stacked weight
		// gradient (asymmetric pads, dilation along either axis).
		// Batch size declared unknown, as in training graphs.
		{x: []int64{2, 4, 16, 9}, w: []int64{3, 4, 3, 2}, strides: []int64{1, 1}, pads: []int64{1, 0, 1, 1}, dilations: []int64{1, 2}, group: 1, bias: true, dynBatch: true},
		{x: []int64{2, 3, 20, 7}, w: []int64{2, 3, 2, 3}, strides: []int64{1, 1}, pads: []int64{1, 1, 2, 1}, dilations: []int64{2, 1}, group: 1},
		// Strided, with pads and kernels of several shapes.
		{x: []int64{2, 3, 8, 6}, w: []int64{4, 3, 3, 3}, strides: []int64{2, 2}, pads: []int64{1, 1, 1, 1}, dilations: []int64{1, 1}, group: 1, bias: true, dynBatch: true},
		{x: []int64{2, 3, 6, 4}, w: []int64{5, 3, 1, 1}, strides: []int64{2, 2}, pads: []int64{0, 0, 0, 0}, dilations: []int64{1, 1}, group: 1},
		{x: []int64{1, 2, 9, 9}, w: []int64{3, 2, 5, 4}, strides: []int64{3, 3}, pads: []int64{2, 1, 1, 1}, dilations: []int64{1, 1}, group: 1},
	}
	for _, c := range cfgs {
		f := feedsOf("x", randTensor(rng, Float, -1, 1, c.x...), "w", randTensor(rng, Float, -1, 1, c.w...))
		wrt := []string{"x", "w"}
		if c.bias {
			f["b"] = randTensor(rng, Float, -1, 1, c.w[0])
			wrt = append(wrt, "b")
		}
		checkGradients(t, rng, gradCase{
			name: fmt.Sprintf("Conv%+v", c), dt: Float, feeds: f, wrt: wrt,
			build: func(g *Graph) string {
				x := f["x"]
				dims := slices.Clone(x.Dims)
				if c.dynBatch {
					dims[0] = -1
				}
				ins := []string{g.AddInput("x", x.DType, dims...), input(g, f, "w")}
				if c.bias {
					ins = append(ins, input(g, f, "b"))
				}
				y := g.Op1("Conv", ins, AInts("strides", c.strides...), AInts("pads", c.pads...),
					AInts("dilations", c.dilations...), AInt("group", c.group))
				if c.dynBatch { // the harness needs the output's shape
					ys := slices.Clone(g.Shape(y))
					ys[0] = x.Dims[0]
					y = g.Op1("Reshape", []string{y, g.ConstI(ys...)})
				}
				return y
			},
		})
	}
}

func TestGradPooling(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	type poolCfg struct {
		op                  string
		x, k, strides, pads []int64
		includePad, ceil    int64
	}
	cfgs := []poolCfg{
		{op: "MaxPool", x: []int64{2, 3, 8, 8}, k: []int64{3, 3}, strides: []int64{2, 2}, pads: []int64{1, 1, 1, 1}},
		{op: "MaxPool", x: []int64{1, 2, 6, 7}, k: []int64{2, 2}, strides: []int64{2, 2}, pads: []int64{0, 0, 0, 0}},
		{op: "MaxPool", x: []int64{2, 3, 8, 6}, k: []int64{2, 2}, strides: []int64{2, 2}, pads: []int64{0, 0, 0, 0}},
		{op: "MaxPool", x: []int64{2, 2, 6, 9}, k: []int64{3, 3}, strides: []int64{3, 3}, pads: []int64{0, 0, 0, 0}},
		{op: "MaxPool", x: []int64{2, 2, 7, 7}, k: []int64{3, 2}, strides: []int64{2, 1}, pads: []int64{0, 0, 0, 0}, ceil: 1},
		{op: "MaxPool", x: []int64{2, 3, 9}, k: []int64{3}, strides: []int64{2}, pads: []int64{1, 1}},
		{op: "AveragePool", x: []int64{2, 3, 8, 8}, k: []int64{3, 3}, strides: []int64{2, 2}, pads: []int64{1, 1, 1, 1}},
		{op: "AveragePool", x: []int64{2, 3, 8, 8}, k: []int64{3, 3}, strides: []int64{2, 2}, pads: []int64{1, 1, 1, 1}, includePad: 1},
		{op: "AveragePool", x: []int64{1, 2, 6, 7}, k: []int64{2, 2}, strides: []int64{2, 2}, pads: []int64{0, 0, 0, 0}},
		{op: "AveragePool", x: []int64{2, 2, 9}, k: []int64{3}, strides: []int64{1}, pads: []int64{0, 2}},
	}
	for _, c := range cfgs {
		f := feedsOf("x", randTensor(rng, Float, -1, 1, c.x...))
		attrs := []Attr{AInts("kernel_shape", c.k...), AInts("strides", c.strides...), AInts("pads", c.pads...)}
		if c.op == "AveragePool" {
			attrs = append(attrs, AInt("count_include_pad", c.includePad))
		}
		if c.ceil != 0 {
			attrs = append(attrs, AInt("ceil_mode", 1))
		}
		checkGradients(t, rng, gradCase{
			name: fmt.Sprintf("%+v", c), dt: Float, feeds: f, wrt: []string{"x"},
			build: func(g *Graph) string { return g.Op1(c.op, []string{input(g, f, "x")}, attrs...) },
		})
	}
	for _, dims := range [][]int64{{2, 3, 4, 5}, {1, 2, 3}} {
		checkGradients(t, rng, unary(rng, "GlobalAveragePool", Float, -1, 1, dims))
	}
}

func TestGradBatchNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, dims := range [][]int64{{4, 3, 3, 3}, {6, 2, 5}, {3, 4, 2, 2}} {
		for _, training := range []bool{false, true} {
			c := dims[1]
			f := feedsOf("x", randTensor(rng, Double, -1, 2, dims...),
				"scale", randTensor(rng, Double, 0.5, 1.5, c), "bias", randTensor(rng, Double, -1, 1, c),
				"mean", randTensor(rng, Double, -0.5, 0.5, c), "var", randTensor(rng, Double, 0.5, 2, c))
			checkGradients(t, rng, gradCase{
				name: fmt.Sprintf("BatchNormalization%v/training=%v", dims, training), dt: Double, feeds: f,
				wrt: []string{"x", "scale", "bias"},
				build: func(g *Graph) string {
					y := g.Op1("BatchNormalization", []string{input(g, f, "x"), input(g, f, "scale"), input(g, f, "bias"),
						input(g, f, "mean"), input(g, f, "var")}, AFloat("epsilon", 1e-3))
					if training {
						if _, err := g.LowerBatchNormTraining(); err != nil {
							t.Fatal(err)
						}
					}
					return y
				},
			})
		}
	}
}

func TestGradCrossEntropy(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, nc := range [][2]int64{{4, 3}, {7, 10}} {
		for _, weighted := range []bool{false, true} {
			for _, smooth := range []float64{0, 0.1} {
				for _, perExample := range []bool{false, true} {
					n, c := nc[0], nc[1]
					labels := &Tensor{DType: Int64, Dims: []int64{n}}
					for i := int64(0); i < n; i++ {
						labels.I64 = append(labels.I64, rng.Int64N(c))
					}
					f := feedsOf("z", randTensor(rng, Double, -2, 2, n, c), "y", labels)
					if weighted {
						f["w"] = randTensor(rng, Double, 0.2, 2, c)
					}
					checkGradients(t, rng, gradCase{
						name: fmt.Sprintf("CrossEntropy(n=%d,c=%d,weighted=%v,smoothing=%v,perExample=%v)", n, c, weighted, smooth, perExample),
						dt:   Double, feeds: f, wrt: []string{"z"}, scalar: !perExample,
						build: func(g *Graph) string {
							ce := CrossEntropy{LabelSmoothing: smooth}
							z, y := input(g, f, "z"), input(g, f, "y")
							if weighted {
								ce.Weights = input(g, f, "w")
							}
							per, mean := g.CrossEntropyLoss(z, y, ce)
							if perExample {
								return per
							}
							return mean
						},
					})
				}
			}
		}
	}
}

// TestBatchNormTrainingStatistics checks the lowered training-mode batch
// norm's output and running-statistic updates against a direct computation.
func TestBatchNormTrainingStatistics(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	const n, c, hw = 3, 2, 4
	f := feedsOf("x", randTensor(rng, Double, -1, 3, n, c, 2, 2),
		"scale", randTensor(rng, Double, 0.5, 1.5, c), "bias", randTensor(rng, Double, -1, 1, c),
		"mean", randTensor(rng, Double, -0.5, 0.5, c), "var", randTensor(rng, Double, 0.5, 2, c))
	g := New("bn")
	y := g.Op1("BatchNormalization", []string{input(g, f, "x"), input(g, f, "scale"), input(g, f, "bias"),
		input(g, f, "mean"), input(g, f, "var")}, AFloat("epsilon", 1e-3), AFloat("momentum", 0.8))
	ups, err := g.LowerBatchNormTraining()
	if err != nil {
		t.Fatal(err)
	}
	out := newSession(t, g, f, []string{y, ups[0].NewMean, ups[0].NewVar}).run(t)
	x := f["x"].F64
	for ch := 0; ch < c; ch++ {
		var vals []float64
		for i := 0; i < n; i++ {
			vals = append(vals, x[(i*c+ch)*hw:(i*c+ch+1)*hw]...)
		}
		var mu, v float64
		for _, a := range vals {
			mu += a / float64(len(vals))
		}
		for _, a := range vals {
			v += (a - mu) * (a - mu) / float64(len(vals))
		}
		unbiased := v * float64(len(vals)) / float64(len(vals)-1)
		wantMean := 0.8*f["mean"].F64[ch] + 0.2*mu
		wantVar := 0.8*f["var"].F64[ch] + 0.2*unbiased
		if math.Abs(out[1][ch]-wantMean) > 1e-6 || math.Abs(out[2][ch]-wantVar) > 1e-6 { // momentum is a float32 attribute
			t.Errorf("channel %d: running (%v, %v), want (%v, %v)", ch, out[1][ch], out[2][ch], wantMean, wantVar)
		}
		i0 := ch * hw // first element of example 0, channel ch
		want := f["scale"].F64[ch]*(x[i0]-mu)/math.Sqrt(v+1e-3) + f["bias"].F64[ch]
		if math.Abs(out[0][i0]-want) > 1e-9 {
			t.Errorf("channel %d: y = %v, want %v", ch, out[0][i0], want)
		}
	}
}

// TestGradConvBatchNormTraining checks Conv followed by a training-mode
// batch normalisation, whose per-channel input-gradient factor the Conv's
// backward takes on its weight (stacked, per-offset and strided forms). ONNX
// Runtime's CPU Conv is float32 only: no ReLU after, so that the finite
// differences stay clear of kinks.
func TestGradConvBatchNormTraining(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, c := range []convCfg{
		{x: []int64{3, 3, 16, 6}, w: []int64{3, 3, 3, 3}, strides: []int64{1, 1}, pads: []int64{1, 1, 1, 1}, dilations: []int64{1, 1}},
		{x: []int64{3, 2, 6, 6}, w: []int64{4, 2, 3, 3}, strides: []int64{1, 1}, pads: []int64{1, 1, 1, 1}, dilations: []int64{1, 1}, bias: true},
		{x: []int64{3, 2, 8, 8}, w: []int64{4, 2, 3, 3}, strides: []int64{2, 2}, pads: []int64{1, 1, 1, 1}, dilations: []int64{1, 1}},
	} {
		m := c.w[0]
		f := feedsOf("x", randTensor(rng, Float, -1, 1, c.x...), "w", randTensor(rng, Float, -1, 1, c.w...),
			"scale", randTensor(rng, Float, 0.5, 1.5, m), "bias", randTensor(rng, Float, -1, 1, m),
			"mean", randTensor(rng, Float, -0.5, 0.5, m), "var", randTensor(rng, Float, 0.5, 2, m))
		wrt := []string{"x", "w", "scale", "bias"}
		if c.bias {
			f["b"] = randTensor(rng, Float, -1, 1, m)
			wrt = append(wrt, "b")
		}
		checkGradients(t, rng, gradCase{
			name: fmt.Sprintf("Conv+BatchNormalization%+v", c), dt: Float, feeds: f, wrt: wrt,
			build: func(g *Graph) string {
				ins := []string{input(g, f, "x"), input(g, f, "w")}
				if c.bias {
					ins = append(ins, input(g, f, "b"))
				}
				y := g.Op1("Conv", ins, AInts("strides", c.strides...), AInts("pads", c.pads...), AInts("dilations", c.dilations...))
				z := g.Op1("BatchNormalization", []string{y, input(g, f, "scale"), input(g, f, "bias"),
					input(g, f, "mean"), input(g, f, "var")}, AFloat("epsilon", 1e-3))
				if _, err := g.LowerBatchNormTraining(); err != nil {
					t.Fatal(err)
				}
				return z
			},
		})
	}
}

// TestGradWeightedLosses: the cross-entropy with per-example factors (some
// negative), alone and with class weights, and the distillation term at
// several temperatures, against finite differences in float64; the
// teacher's logits get a gradient too (the term is differentiable in both).
func TestGradWeightedLosses(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	const n, c = 5, 4
	labels := &Tensor{DType: Int64, Dims: []int64{n}}
	for i := int64(0); i < n; i++ {
		labels.I64 = append(labels.I64, rng.Int64N(c))
	}
	for _, weighted := range []bool{false, true} {
		f := feedsOf("z", randTensor(rng, Double, -2, 2, n, c), "y", labels, "e", randTensor(rng, Double, -1.5, 1.5, n))
		if weighted {
			f["w"] = randTensor(rng, Double, 0.2, 2, c)
		}
		checkGradients(t, rng, gradCase{
			name: fmt.Sprintf("CrossEntropy(example weights, class weights=%v)", weighted),
			dt:   Double, feeds: f, wrt: []string{"z", "e"}, scalar: true,
			build: func(g *Graph) string {
				ce := CrossEntropy{ExampleWeights: input(g, f, "e")}
				z, y := input(g, f, "z"), input(g, f, "y")
				if weighted {
					ce.Weights = input(g, f, "w")
				}
				_, mean := g.CrossEntropyLoss(z, y, ce)
				return mean
			},
		})
	}
	for _, temp := range []float64{1, 4} {
		f := feedsOf("z", randTensor(rng, Double, -2, 2, n, c), "t", randTensor(rng, Double, -3, 3, n, c))
		checkGradients(t, rng, gradCase{
			name: fmt.Sprintf("DistillKL(T=%v)", temp), dt: Double, feeds: f, wrt: []string{"z", "t"},
			build: func(g *Graph) string { return g.DistillKL(input(g, f, "z"), input(g, f, "t"), temp) },
		})
	}
}

// TestMaxPoolTiesGetOneGradient: where a window's values tie (flat image
// backgrounds do), the backward pass gives dy to the one position ONNX
// Runtime's Indices name (the window's first), as the ScatterElements form
// does, not to every tied position.
func TestMaxPoolTiesGetOneGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	x := &Tensor{DType: Float, Dims: []int64{2, 2, 4, 6}, F32: make([]float32, 96)}
	for i := range x.F32 {
		x.F32[i] = 0.5
	}
	x.F32[7] = 2 // one window with a unique maximum (row 1, column 1 of plane 0)
	r := randTensor(rng, Float, 0.5, 1, 2, 2, 2, 3)
	g := New("ties")
	xi := g.AddInput("x", Float, -1, 2, 4, 6)
	y := g.Op1("MaxPool", []string{xi}, AInts("kernel_shape", 2, 2), AInts("strides", 2, 2))
	loss := g.Op1("ReduceSum", []string{g.Op1("Mul", []string{y, g.AddInit("r", r)})}, AInt("keepdims", 0))
	grads, err := g.Gradients(loss, []string{"x"}, GradOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dx := newSession(t, g, feedsOf("x", x), []string{grads["x"]}).run(t)[0]
	for p := 0; p < 4; p++ {
		for i := 0; i < 2; i++ {
			for j := 0; j < 3; j++ {
				for a := 0; a < 2; a++ {
					for b := 0; b < 2; b++ {
						want := 0.0
						if (p == 0 && i == 0 && j == 0 && a == 1 && b == 1) || (!(p == 0 && i == 0 && j == 0) && a == 0 && b == 0) {
							want = float64(r.F32[(p*2+i)*3+j])
						}
						if got := dx[p*24+(2*i+a)*6+2*j+b]; got != want {
							t.Fatalf("plane %d window (%d, %d) offset (%d, %d): gradient %v, want %v", p, i, j, a, b, got, want)
						}
					}
				}
			}
		}
	}
}
