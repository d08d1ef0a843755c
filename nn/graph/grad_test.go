package graph

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func feedsOf(kv ...any) map[string]*Tensor {
	m := map[string]*Tensor{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(*Tensor)
	}
	return m
}

func input(g *Graph, f map[string]*Tensor, name string) string {
	t := f[name]
	return g.AddInput(name, t.DType, t.Dims...)
}

// unary builds a one-input, one-node case.
func unary(rng *rand.Rand, op string, dt DType, lo, hi float64, dims []int64, attrs ...Attr) gradCase {
	f := feedsOf("x", randTensor(rng, dt, lo, hi, dims...))
	return gradCase{
		name: fmt.Sprintf("%s%v", op, dims), dt: dt, feeds: f, wrt: []string{"x"},
		build: func(g *Graph) string { return g.Op1(op, []string{input(g, f, "x")}, attrs...) },
	}
}

func TestGradElementwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var cases []gradCase
	for _, dims := range [][]int64{{5}, {2, 3, 4}, {2, 3, 2, 2}} {
		cases = append(cases,
			unary(rng, "Identity", Double, -1, 1, dims),
			unary(rng, "Relu", Double, -1, 1, dims),
			unary(rng, "Neg", Double, -1, 1, dims),
			unary(rng, "Sqrt", Double, 0.5, 2, dims),
			unary(rng, "Reciprocal", Double, 0.5, 2, dims),
			unary(rng, "Exp", Double, -1, 1, dims),
			unary(rng, "Log", Double, 0.5, 2, dims),
			unary(rng, "Dropout", Float, -1, 1, dims),
		)
	}
	for _, sh := range [][2][]int64{
		{{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {4}}, {{2, 3, 4}, {3, 1}}, {{1, 3, 1}, {2, 1, 4}}, {{2, 3}, {1}},
	} {
		for _, op := range []string{"Add", "Sub", "Mul", "Div"} {
			f := feedsOf("a", randTensor(rng, Double, 0.5, 2, sh[0]...), "b", randTensor(rng, Double, 0.5, 2, sh[1]...))
			cases = append(cases, gradCase{
				name: fmt.Sprintf("%s%v%v", op, sh[0], sh[1]), dt: Double, feeds: f, wrt: []string{"a", "b"},
				build: func(g *Graph) string { return g.Op1(op, []string{input(g, f, "a"), input(g, f, "b")}) },
			})
		}
	}
	for _, c := range cases {
		checkGradients(t, rng, c)
	}
}

func TestGradMatMulGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var cases []gradCase
	for _, sh := range [][2][]int64{{{3, 4}, {4, 5}}, {{2, 3, 4}, {4, 5}}, {{2, 3, 4}, {2, 4, 5}}, {{2, 1, 3, 4}, {3, 4, 2}}} {
		f := feedsOf("a", randTensor(rng, Double, -1, 1, sh[0]...), "b", randTensor(rng, Double, -1, 1, sh[1]...))
		cases = append(cases, gradCase{
			name: fmt.Sprintf("MatMul%v%v", sh[0], sh[1]), dt: Double, feeds: f, wrt: []string{"a", "b"},
			build: func(g *Graph) string { return g.Op1("MatMul", []string{input(g, f, "a"), input(g, f, "b")}) },
		})
	}
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			for _, cdims := range [][]int64{nil, {5}, {3, 5}, {3, 1}} {
				ad, bd := []int64{3, 4}, []int64{4, 5}
				if ta {
					ad = []int64{4, 3}
				}
				if tb {
					bd = []int64{5, 4}
				}
				f := feedsOf("a", randTensor(rng, Double, -1, 1, ad...), "b", randTensor(rng, Double, -1, 1, bd...))
				wrt := []string{"a", "b"}
				if cdims != nil {
					f["c"] = randTensor(rng, Double, -1, 1, cdims...)
					wrt = append(wrt, "c")
				}
				cases = append(cases, gradCase{
					name: fmt.Sprintf("Gemm(tA=%v,tB=%v,C=%v)", ta, tb, cdims), dt: Double, feeds: f, wrt: wrt,
					build: func(g *Graph) string {
						ins := []string{input(g, f, "a"), input(g, f, "b")}
						if cdims != nil {
							ins = append(ins, input(g, f, "c"))
						}
						return g.Op1("Gemm", ins, AInt("transA", b2i(ta)), AInt("transB", b2i(tb)), AFloat("alpha", 0.7), AFloat("beta", 1.3))
					},
				})
			}
		}
	}
	for _, c := range cases {
		checkGradients(t, rng, c)
	}
}

func TestGradShapeOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var cases []gradCase
	for _, dims := range [][]int64{{2, 3, 4}, {2, 3, 2, 2}} {
		cases = append(cases,
			unary(rng, "Flatten", Double, -1, 1, dims, AInt("axis", 1)),
			unary(rng, "Flatten", Double, -1, 1, dims, AInt("axis", 2)),
			unary(rng, "Transpose", Double, -1, 1, dims),
			unary(rng, "Softmax", Double, -2, 2, dims, AInt("axis", 1)),
			unary(rng, "Softmax", Double, -2, 2, dims, AInt("axis", -1)),
			unary(rng, "LogSoftmax", Double, -2, 2, dims, AInt("axis", 1)),
			unary(rng, "LogSoftmax", Double, -2, 2, dims, AInt("axis", -1)),
		)
		f := feedsOf("x", randTensor(rng, Double, -1, 1, dims...))
		cases = append(cases, gradCase{name: fmt.Sprintf("Reshape%v", dims), dt: Double, feeds: f, wrt: []string{"x"},
			build: func(g *Graph) string {
				return g.Op1("Reshape", []string{input(g, f, "x"), g.ConstI(dims[0], -1)})
			}})
		perm := []int64{1, 0}
		for i := 2; i < len(dims); i++ {
			perm = append([]int64{int64(i)}, perm...)
		}
		cases = append(cases, unary(rng, "Transpose", Double, -1, 1, dims, AInts("perm", perm...)))
		for _, op := range []string{"ReduceSum", "ReduceMean"} {
			for _, keep := range []int64{0, 1} {
				f := feedsOf("x", randTensor(rng, Double, -1, 1, dims...))
				cases = append(cases, gradCase{name: fmt.Sprintf("%s%v/keep=%d", op, dims, keep), dt: Double, feeds: f, wrt: []string{"x"},
					build: func(g *Graph) string {
						if op == "ReduceSum" {
							return g.Op1(op, []string{input(g, f, "x"), g.ConstI(0, 2)}, AInt("keepdims", keep))
						}
						return g.Op1(op, []string{input(g, f, "x")}, AInts("axes", 0, 2), AInt("keepdims", keep))
					}})
			}
		}
	}
	for _, axis := range []int64{0, 1, -1} {
		f := feedsOf("a", randTensor(rng, Double, -1, 1, 2, 3, 4), "b", randTensor(rng, Double, -1, 1, 2, 3, 4))
		f["b"].Dims = []int64{2, 3, 4}
		if axis == 1 {
			f["b"] = randTensor(rng, Double, -1, 1, 2, 5, 4)
		}
		cases = append(cases, gradCase{name: fmt.Sprintf("Concat/axis=%d", axis), dt: Double, feeds: f, wrt: []string{"a", "b"},
			build: func(g *Graph) string {
				return g.Op1("Concat", []string{input(g, f, "a"), input(g, f, "b")}, AInt("axis", axis))
			}})
	}
	for _, c := range cases {
		checkGradients(t, rng, c)
	}
}
