package graph

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"testing"
)

// torchPoolCase is one case of testdata/maxpool_torch.json (written by
// maxpool_torch.py): an input full of ties, an upstream gradient r and
// PyTorch's gradient of sum(r·maxpool(relu?(x))) with respect to x.
type torchPoolCase struct {
	Name                  string
	Shape                 []int64
	Kernel, Strides, Pads []int64
	Relu                  bool
	X, R, DX              []float32
}

// poolGraph is relu?(x) → MaxPool → sum(y·r), with x's batch dimension
// unknown at build time when dynBatch.
func poolGraph(c torchPoolCase, dynBatch bool) (g *Graph, x, h, y, loss string) {
	g = New(c.Name)
	dims := slices.Clone(c.Shape)
	if dynBatch {
		dims[0] = -1
	}
	x = g.AddInput("x", Float, dims...)
	h = x
	if c.Relu {
		h = g.Op1("Relu", []string{x})
	}
	outs := g.Op("MaxPool", []string{h}, 1, AInts("kernel_shape", c.Kernel...), AInts("strides", c.Strides...), AInts("pads", c.Pads...))
	y = outs[0]
	ys := slices.Clone(g.Shape(y))
	ys[0] = c.Shape[0]
	r := g.AddInit("r", &Tensor{DType: Float, Dims: ys, F32: c.R})
	loss = g.Op1("ReduceSum", []string{g.Op1("Mul", []string{y, r})}, AInt("keepdims", 0))
	return g, x, h, y, loss
}

// TestMaxPoolGradMatchesTorch: the max-pool gradient equals PyTorch's
// autograd exactly on inputs where windows tie (whole windows of zeros
// after a ReLU, equal positive values), for the windows that do not overlap
// (MaxUnpool at positions found without the Indices output) and those that
// do (ResNet-18's stem: the Indices fallback), with the batch size known and
// unknown at build time; and it equals today's formulation spelled out (dy
// scattered and summed at the forward's Indices output, times the ReLU's
// mask).
func TestMaxPoolGradMatchesTorch(t *testing.T) {
	b, err := os.ReadFile("testdata/maxpool_torch.json")
	if err != nil {
		t.Fatal(err)
	}
	var fix struct{ Cases []torchPoolCase }
	if err := json.Unmarshal(b, &fix); err != nil {
		t.Fatal(err)
	}
	if len(fix.Cases) < 9 {
		t.Fatalf("%d cases in the fixture, want 9", len(fix.Cases))
	}
	for _, c := range fix.Cases {
		overlap := false
		for i := range c.Kernel {
			overlap = overlap || c.Strides[i] < c.Kernel[i] || c.Pads[i] != 0
		}
		feeds := feedsOf("x", &Tensor{DType: Float, Dims: c.Shape, F32: c.X})
		for _, dyn := range []bool{false, true} {
			g, x, _, y, loss := poolGraph(c, dyn)
			grads, err := g.Gradients(loss, []string{x}, GradOptions{})
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			// A second call on the same graph (the true Fisher makes one
			// per class) meets the pool as poolBySpaceToDepth left it.
			again, err := g.Gradients(loss, []string{x}, GradOptions{})
			if err != nil {
				t.Fatalf("%s, second call: %v", c.Name, err)
			}
			unpool, scatter, indices, pools := false, false, false, 0
			for _, n := range g.Nodes {
				unpool = unpool || n.OpType == "MaxUnpool"
				scatter = scatter || n.OpType == "ScatterElements"
				indices = indices || (n.OpType == "MaxPool" && len(n.Output) > 1 && n.Output[1] != "")
				if n.OpType == "MaxPool" {
					pools++
				}
			}
			if indices || unpool == overlap || scatter != overlap {
				t.Errorf("%s: MaxUnpool %v, ScatterElements %v, Indices %v; want no Indices, MaxUnpool where the windows neither overlap nor pad, else ScatterElements", c.Name, unpool, scatter, indices)
			}
			k := c.Kernel[0]
			tiles := !overlap && c.Kernel[1] == k && c.Strides[0] == k && c.Strides[1] == k && c.Shape[2]%k == 0 && c.Shape[3]%k == 0
			if tiles != (pools == 0) {
				t.Errorf("%s: %d MaxPool nodes left; want the forward rewritten as a ReduceMax exactly where the windows tile x", c.Name, pools)
			}
			res := newSession(t, g, feeds, []string{grads[x], again[x], y}).run(t)
			dx := res[0]
			for i := range dx {
				if float32(dx[i]) != c.DX[i] || res[1][i] != dx[i] {
					t.Fatalf("%s (batch known %v): dx[%d] = %v, from a second call %v, PyTorch %v", c.Name, !dyn, i, dx[i], res[1][i], c.DX[i])
				}
			}
			// Today's formulation, spelled out here as the reference.
			rg, rx, rh, ry, _ := poolGraph(c, dyn)
			pool := rg.Nodes[len(rg.Nodes)-3]
			idx := rg.Fresh("indices")
			pool.Output = append(pool.Output, idx)
			rg.Infer(pool)
			zeros := rg.Op1("ConstantOfShape", []string{rg.Op1("Reshape", []string{rg.Op1("Size", []string{rx}), rg.ConstI(1)})}, zeroValue(Float))
			flatR := rg.Op1("Reshape", []string{"r", rg.ConstI(-1)})
			sc := rg.Op1("ScatterElements", []string{zeros, rg.Op1("Reshape", []string{idx, rg.ConstI(-1)}), flatR}, AInt("axis", 0), AString("reduction", "add"))
			ref := rg.Op1("Reshape", []string{sc, rg.Op1("Shape", []string{rx})})
			if c.Relu {
				ref = rg.Op1("Mul", []string{ref, rg.Op1("Cast", []string{rg.Op1("Greater", []string{rh, rg.ScalarF(Float, 0)})}, AInt("to", int64(Float)))})
			}
			refs := newSession(t, rg, feeds, []string{ref, ry}).run(t)
			for i, want := range refs[0] {
				if want != dx[i] {
					t.Fatalf("%s (batch known %v): dx[%d] = %v, the Indices formulation %v", c.Name, !dyn, i, dx[i], want)
				}
			}
			// The forward's output is MaxPool's, whatever form it runs in.
			for i, want := range refs[1] {
				if want != res[2][i] {
					t.Fatalf("%s (batch known %v): y[%d] = %v, MaxPool's %v", c.Name, !dyn, i, res[2][i], want)
				}
			}
		}
		// The case is worth its name: some window's maximum is not unique.
		if tiedWindows(c) == 0 {
			t.Errorf("%s: no window ties", c.Name)
		}
	}
}

// tiedWindows counts the pooling windows of c (2-D) whose maximum occurs
// more than once.
func tiedWindows(c torchPoolCase) int {
	h, w := c.Shape[2], c.Shape[3]
	oh := (h+2*c.Pads[0]-c.Kernel[0])/c.Strides[0] + 1
	ow := (w+2*c.Pads[1]-c.Kernel[1])/c.Strides[1] + 1
	tied := 0
	for p := int64(0); p < c.Shape[0]*c.Shape[1]; p++ {
		for i := range oh {
			for j := range ow {
				best, count := float32(-1e30), 0
				for a := range c.Kernel[0] {
					for b := range c.Kernel[1] {
						r, q := i*c.Strides[0]-c.Pads[0]+a, j*c.Strides[1]-c.Pads[1]+b
						if r < 0 || r >= h || q < 0 || q >= w {
							continue
						}
						v := c.X[(p*h+r)*w+q]
						if c.Relu {
							v = max(v, 0)
						}
						switch {
						case v > best:
							best, count = v, 1
						case v == best:
							count++
						}
					}
				}
				if count > 1 {
					tied++
				}
			}
		}
	}
	return tied
}

// TestMaxPoolGradNaNWindows: where no position of a padded window equals its
// maximum (NaN inputs), the gradient goes to a position inside x, not to
// one in the padding, which would lie outside x's elements and fail the
// step.
func TestMaxPoolGradNaNWindows(t *testing.T) {
	for _, c := range []torchPoolCase{
		{Name: "stem", Shape: []int64{2, 2, 7, 8}, Kernel: []int64{3, 3}, Strides: []int64{2, 2}, Pads: []int64{1, 1, 1, 1}},
		{Name: "2x2 pad 1", Shape: []int64{1, 3, 5, 5}, Kernel: []int64{2, 2}, Strides: []int64{2, 2}, Pads: []int64{1, 1, 1, 1}},
	} {
		x := &Tensor{DType: Float, Dims: c.Shape, F32: make([]float32, numel(c.Shape))}
		for i := range x.F32 {
			x.F32[i] = float32(math.NaN())
		}
		g0, _, _, _, _ := poolGraph(c, false)
		ys := g0.Shape(g0.Nodes[len(g0.Nodes)-3].Output[0])
		c.R = make([]float32, numel(ys))
		for i := range c.R {
			c.R[i] = 1
		}
		g, xi, _, _, loss := poolGraph(c, true)
		grads, err := g.Gradients(loss, []string{xi}, GradOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dx := newSession(t, g, feedsOf("x", x), []string{grads[xi]}).run(t)[0]
		sum := 0.0
		for _, v := range dx {
			sum += v
		}
		if sum != float64(len(c.R)) {
			t.Errorf("%s: the gradients sum to %v, want one per window (%d)", c.Name, sum, len(c.R))
		}
	}
}
