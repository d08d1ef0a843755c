package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"unlearnbench/nn/ort"
)

var rt *ort.Runtime

func TestMain(m *testing.M) {
	var err error
	rt, err = ort.Init(ort.Options{IntraOpThreads: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, "graph tests:", err)
		os.Exit(1)
	}
	code := m.Run()
	rt.Close()
	os.Exit(code)
}

// randTensor fills a tensor with values in [lo, hi) from rng.
func randTensor(rng *rand.Rand, dt DType, lo, hi float64, dims ...int64) *Tensor {
	t := &Tensor{DType: dt, Dims: dims}
	n := numel(dims)
	for i := int64(0); i < n; i++ {
		v := lo + (hi-lo)*rng.Float64()
		if dt == Float {
			t.F32 = append(t.F32, float32(v))
		} else {
			t.F64 = append(t.F64, v)
		}
	}
	return t
}

func (t *Tensor) at(i int) float64 {
	switch t.DType {
	case Float:
		return float64(t.F32[i])
	case Double:
		return t.F64[i]
	}
	return float64(t.I64[i])
}

func (t *Tensor) set(i int, v float64) {
	switch t.DType {
	case Float:
		t.F32[i] = float32(v)
	case Double:
		t.F64[i] = v
	default:
		t.I64[i] = int64(v)
	}
}

// session compiles g with the given inputs (in g.Inputs order) and outputs.
type session struct {
	s    *ort.Session
	own  ort.Owner
	ins  []ort.Value
	outs []string
}

func newSession(t testing.TB, g *Graph, feeds map[string]*Tensor, outs []string) *session {
	t.Helper()
	gg := g.Clone()
	outs = slices.Clone(outs)
	for i, o := range outs {
		// onnxruntime_go cannot hand back 0-d outputs: make them [1].
		if s := gg.info[o].Shape; s != nil && len(s) == 0 {
			outs[i] = gg.Op1("Reshape", []string{o, gg.ConstI(1)})
		}
	}
	gg.Outputs = outs
	b, err := gg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s := &session{outs: outs}
	s.s, err = rt.NewSession(&s.own, b, gg.Inputs, outs)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range gg.Inputs {
		f, ok := feeds[name]
		if !ok {
			t.Fatalf("no feed for input %s", name)
		}
		var v ort.Value
		switch f.DType {
		case Float:
			v, err = ort.NewTensor(&s.own, f.Dims, f.F32)
		case Double:
			v, err = ort.NewTensor(&s.own, f.Dims, f.F64)
		case Int64:
			v, err = ort.NewTensor(&s.own, f.Dims, f.I64)
		}
		if err != nil {
			t.Fatal(err)
		}
		s.ins = append(s.ins, v)
	}
	t.Cleanup(func() { s.own.Close() })
	return s
}

// run returns every output as float64s.
func (s *session) run(t testing.TB) [][]float64 {
	t.Helper()
	var own ort.Owner
	defer own.Close()
	outs := make([]ort.Value, len(s.outs))
	if err := s.s.Run(&own, s.ins, outs); err != nil {
		t.Fatal(err)
	}
	res := make([][]float64, len(outs))
	for i, o := range outs {
		switch v := o.(type) {
		case *ort.Tensor[float32]:
			for _, x := range v.GetData() {
				res[i] = append(res[i], float64(x))
			}
		case *ort.Tensor[float64]:
			res[i] = slices.Clone(v.GetData())
		case *ort.Tensor[int64]:
			for _, x := range v.GetData() {
				res[i] = append(res[i], float64(x))
			}
		case *ort.Tensor[bool]:
			for _, x := range v.GetData() {
				res[i] = append(res[i], float64(b2i(x)))
			}
		default:
			t.Fatalf("output %s: unexpected type %T", s.outs[i], o)
		}
	}
	return res
}

// gradCase is one finite-difference check: build declares the graph's
// inputs (fed from feeds) and returns the output y; the checked scalar is
// sum(y * R) for a fixed random R.
type gradCase struct {
	name  string
	dt    DType
	feeds map[string]*Tensor
	wrt   []string
	build func(g *Graph) string
	// scalar skips the random projection: y is already a scalar loss.
	scalar bool
}

// checkGradients compares Gradients against central differences on up to
// 10 coordinates of every wrt tensor.
func checkGradients(t *testing.T, rng *rand.Rand, c gradCase) {
	t.Helper()
	g := New(c.name)
	y := c.build(g)
	loss := y
	if !c.scalar {
		yi := g.info[y]
		if !yi.Known() {
			t.Fatalf("%s: output shape %v unknown", c.name, yi.Shape)
		}
		r := randTensor(rng, yi.DType, -1, 1, yi.Shape...)
		rn := g.AddInit(g.Fresh("proj"), r)
		loss = g.Op1("ReduceSum", []string{g.Op1("Mul", []string{y, rn})}, AInt("keepdims", 0))
	}
	gg := g.Clone()
	grads, err := gg.Gradients(loss, c.wrt, GradOptions{})
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	outs := []string{loss}
	for _, w := range c.wrt {
		outs = append(outs, grads[w])
	}
	an := newSession(t, gg, c.feeds, outs).run(t)
	fwd := newSession(t, g, c.feeds, []string{loss})
	h, rtol, atol := 1e-6, 1e-5, 1e-7
	if c.dt == Float {
		h, rtol, atol = 1e-2, 2e-2, 2e-3
	}
	for wi, w := range c.wrt {
		f := c.feeds[w]
		n := int(f.Size())
		if len(an[wi+1]) != n {
			t.Fatalf("%s: gradient of %s has %d elements, want %d", c.name, w, len(an[wi+1]), n)
		}
		idx := rng.Perm(n)
		if len(idx) > 10 {
			idx = idx[:10]
		}
		fds, as := make([]float64, len(idx)), make([]float64, len(idx))
		var ss float64
		for j, i := range idx {
			old := f.at(i)
			f.set(i, old+h)
			lp := fwd.run(t)[0][0]
			f.set(i, old-h)
			lm := fwd.run(t)[0][0]
			f.set(i, old)
			fds[j] = (lp - lm) / (2 * h)
			as[j] = an[wi+1][i]
			ss += fds[j] * fds[j]
		}
		scale := math.Sqrt(ss / float64(len(idx)))
		for j, i := range idx {
			if d := math.Abs(fds[j] - as[j]); d > atol+rtol*max(math.Abs(fds[j]), scale) {
				t.Errorf("%s: d/d%s[%d]: analytic %.8g, finite difference %.8g", c.name, w, i, as[j], fds[j])
			}
		}
	}
}
