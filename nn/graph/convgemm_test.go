package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestConvsAsGEMM: a graph with a Conv and its gradients (whose input
// gradient is another Conv at unit strides, a ConvTranspose otherwise) gives the same loss and
// gradients, within float32 rounding, after ConvsAsGEMM rewrote its Convs;
// on small maps, with strides, dilations, asymmetric pads (taps that meet
// only padding at every position included), bias, and an unknown batch.
func TestConvsAsGEMM(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	transposes := 0 // ConvTranspose nodes rewritten, over all cases
	cfgs := []convCfg{
		// ResNet-18's layer 4 at 32x32: a 3x3 kernel on a 1x1 map.
		{x: []int64{4, 8, 1, 1}, w: []int64{6, 8, 3, 3}, strides: []int64{1, 1}, pads: []int64{1, 1, 1, 1}, dilations: []int64{1, 1}, group: 1, dynBatch: true},
		// Layer 3: 2x2 maps, and the stride-2 Conv onto 1x1.
		{x: []int64{3, 5, 2, 2}, w: []int64{7, 5, 3, 3}, strides: []int64{1, 1}, pads: []int64{1, 1, 1, 1}, dilations: []int64{1, 1}, group: 1, bias: true},
		{x: []int64{3, 5, 2, 2}, w: []int64{4, 5, 3, 3}, strides: []int64{2, 2}, pads: []int64{1, 1, 1, 1}, dilations: []int64{1, 1}, group: 1},
		{x: []int64{2, 4, 4, 4}, w: []int64{3, 4, 1, 1}, strides: []int64{2, 2}, pads: []int64{0, 0, 0, 0}, dilations: []int64{1, 1}, group: 1, dynBatch: true},
		// Asymmetric pads, dilation, a non-square kernel and map.
		{x: []int64{2, 3, 3, 4}, w: []int64{5, 3, 3, 2}, strides: []int64{1, 2}, pads: []int64{2, 0, 1, 1}, dilations: []int64{2, 1}, group: 1, bias: true},
		{x: []int64{2, 3, 4, 4}, w: []int64{2, 3, 3, 3}, strides: []int64{1, 1}, pads: []int64{1, 1, 1, 1}, dilations: []int64{1, 1}, group: 1, dynBatch: true},
	}
	for _, c := range cfgs {
		name := fmt.Sprintf("Conv%+v", c)
		f := feedsOf("x", randTensor(rng, Float, -1, 1, c.x...), "w", randTensor(rng, Float, -1, 1, c.w...))
		wrt := []string{"x", "w"}
		g := New("convgemm")
		dims := slices.Clone(c.x)
		if c.dynBatch {
			dims[0] = -1
		}
		ins := []string{g.AddInput("x", Float, dims...), input(g, f, "w")}
		if c.bias {
			f["b"] = randTensor(rng, Float, -1, 1, c.w[0])
			wrt = append(wrt, "b")
			ins = append(ins, input(g, f, "b"))
		}
		y := g.Op1("Conv", ins, AInts("strides", c.strides...), AInts("pads", c.pads...),
			AInts("dilations", c.dilations...), AInt("group", c.group))
		ys := slices.Clone(g.Shape(y))
		ys[0] = c.x[0]
		y = g.Op1("Reshape", []string{y, g.ConstI(ys...)})
		r := g.AddInit("proj", randTensor(rng, Float, -1, 1, ys...))
		loss := g.Op1("ReduceSum", []string{g.Op1("Mul", []string{y, r})}, AInt("keepdims", 0))
		grads, err := g.Gradients(loss, wrt, GradOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		outs := []string{loss, y}
		for _, w := range wrt {
			outs = append(outs, grads[w])
		}
		convs := func(g *Graph) int {
			k := 0
			for _, n := range g.Nodes {
				if n.OpType == "Conv" || n.OpType == "ConvTranspose" {
					k++
				}
			}
			return k
		}
		before := convs(g)
		for _, n := range g.Nodes {
			if n.OpType == "ConvTranspose" {
				transposes++
			}
		}
		want := newSession(t, g, f, outs).run(t)
		rg := g.Clone()
		n := rg.ConvsAsGEMM(64)
		if n == 0 || convs(rg) != 0 {
			t.Fatalf("%s: rewrote %d of %d Convs, %d left", name, n, before, convs(rg))
		}
		got := newSession(t, rg, f, outs).run(t)
		for i, o := range outs {
			var diff, scale float64
			for j := range want[i] {
				diff = max(diff, math.Abs(want[i][j]-got[i][j]))
				scale = max(scale, math.Abs(want[i][j]))
			}
			// Absolute for the loss, a sum whose terms cancel; values are O(1).
			if !(scale > 0) || diff > 1e-5*max(scale, 1) {
				t.Errorf("%s: output %d (%s) differs by %g after rewriting %d Convs (max |value| %g)", name, i, o, diff, n, scale)
			}
		}
	}
	if transposes < 3 {
		t.Errorf("%d ConvTranspose nodes rewritten; the strided cases should give 3", transposes)
	}
	// Grouped Convs, and maps larger than the limit, stay Convs.
	g := New("keep")
	x := g.AddInput("x", Float, 2, 4, 8, 8)
	w := g.AddInput("w", Float, 4, 2, 3, 3)
	g.Op1("Conv", []string{x, w}, AInts("pads", 1, 1, 1, 1), AInt("group", 2))
	w1 := g.AddInput("w1", Float, 4, 4, 3, 3)
	g.Op1("Conv", []string{x, w1}, AInts("pads", 1, 1, 1, 1))
	if n := g.ConvsAsGEMM(16); n != 0 {
		t.Errorf("rewrote %d Convs: a grouped one or one of 64 positions > 16", n)
	}
}
