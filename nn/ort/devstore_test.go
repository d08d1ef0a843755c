package ort_test

import (
	"reflect"
	"slices"
	"testing"

	ortgo "github.com/yalue/onnxruntime_go"

	"unlearnbench/nn/graph"
	"unlearnbench/nn/ort"
)

// TestSessionLayout guards the assumption the device store makes about
// onnxruntime_go: a DynamicAdvancedSession holds one pointer, to an
// AdvancedSession whose first field is the C session pointer.
func TestSessionLayout(t *testing.T) {
	d := reflect.TypeOf(ortgo.DynamicAdvancedSession{})
	if d.NumField() != 1 || d.Field(0).Type.Kind() != reflect.Pointer || d.Field(0).Type.Elem().Name() != "AdvancedSession" {
		t.Fatalf("onnxruntime_go.DynamicAdvancedSession changed layout")
	}
	a := reflect.TypeOf(ortgo.AdvancedSession{})
	if f := a.Field(0); f.Name != "ortSession" || f.Offset != 0 || f.Type.Kind() != reflect.Pointer {
		t.Fatalf("onnxruntime_go.AdvancedSession's first field is %s at %d", f.Name, f.Offset)
	}
	v := reflect.TypeOf(ortgo.ValueInternalData{})
	if v.NumField() != 1 || v.Field(0).Type.Kind() != reflect.Pointer {
		t.Fatalf("onnxruntime_go.ValueInternalData changed layout: %d fields", v.NumField())
	}
}

// TestStoreKeepsStateOnTheDevice runs the device store on the CPU (the same
// C calls as on CUDA, with the "Cpu" memory info): a step s ← s + a·x, with
// s bound as input and output, runs five times on tensors that never leave
// the store; only the final Download brings s back, and it holds the five
// steps' sum. The host slices given to Upload are changed afterwards to
// show that the store holds its own copy.
func TestStoreKeepsStateOnTheDevice(t *testing.T) {
	rt, err := ort.Init(ort.Options{IntraOpThreads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	g := graph.New("axpy")
	s := g.AddInput("s", graph.Float, 2, 3)
	a := g.AddInput("a", graph.Float, 1)
	x := g.AddInput("x", graph.Float, 2, 3)
	g.OpNamed("Add", []string{s, g.Op1("Mul", []string{a, x})}, []string{"s_new"})
	g.AddOutput("s_new")
	b, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var own ort.Owner
	defer own.Close()
	sess, err := rt.NewSession(&own, b, []string{"s", "a", "x"}, []string{"s_new"})
	if err != nil {
		t.Fatal(err)
	}
	cg := graph.New("copy")
	cg.AddInput("x", graph.Float, -1)
	cg.OpNamed("Identity", []string{"x"}, []string{"y"})
	cg.AddOutput("y")
	cb, err := cg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	st, err := rt.NewStore(sess, cb)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sd, err := st.Alloc([]int64{2, 3})
	if err != nil {
		t.Fatal(err)
	}
	ad, _ := st.Alloc([]int64{1})
	xd, _ := st.Alloc([]int64{2, 3})
	host := []float32{1, 2, 3, 4, 5, 6}
	xs := []float32{1, -1, 0.5, 2, 0, 3}
	for _, c := range []struct {
		d *ort.DeviceTensor
		v []float32
	}{{sd, host}, {ad, []float32{0.5}}, {xd, xs}} {
		if err := st.Upload(c.d, c.v); err != nil {
			t.Fatal(err)
		}
	}
	want := slices.Clone(host)
	for i := range want {
		want[i] += 5 * 0.5 * xs[i]
	}
	clear(host)
	clear(xs)
	bd, err := st.NewBinding(sess)
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]*ort.DeviceTensor{"s": sd, "x": xd} {
		if err := bd.BindInput(name, d); err != nil {
			t.Fatal(err)
		}
	}
	// a, a host tensor over Go memory, is read where it is at every run.
	av, _ := ort.NewTensor(&own, []int64{1}, []float32{0.5})
	if err := bd.BindHostInput("a", av); err != nil {
		t.Fatal(err)
	}
	_ = ad
	if err := bd.BindOutput("s_new", sd); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := bd.Run(); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]float32, 6)
	if err := st.Download(got, sd); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("after 5 steps on the device s = %v, want %v", got, want)
	}
	if err := st.Upload(sd, make([]float32, 5)); err == nil {
		t.Errorf("uploading 5 values into a tensor of 6 succeeded")
	}
	if err := bd.BindInput("nope", sd); err == nil {
		t.Errorf("binding an unknown input succeeded")
	}
}
