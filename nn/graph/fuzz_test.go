package graph

import (
	"testing"
)

// FuzzParse feeds arbitrary bytes to the ONNX reader: it must return a
// graph or an error, never panic.
func FuzzParse(f *testing.F) {
	g := New("seed")
	x := g.AddInput("x", Float, -1, 2, 4, 4)
	w := g.ConstF(Float, []int64{3, 2, 1, 1}, 1, 2, 3, 4, 5, 6)
	y := g.Op1("Conv", []string{x, w})
	y = g.Op1("Relu", []string{y})
	y = g.Op1("Flatten", []string{y}, AInt("axis", 1))
	g.OpNamed("Reshape", []string{y, g.ConstI(0, -1)}, []string{"out"})
	g.AddOutput("out")
	b, err := g.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(data)
		if err == nil {
			g.CheckOps()
			g.Trainable()
			if _, err := g.Marshal(); err != nil {
				t.Fatalf("re-encoding a parsed model: %v", err)
			}
		}
	})
}
