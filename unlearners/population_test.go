package unlearners

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"unlearnbench/nn"
	"unlearnbench/nn/ort"
	"unlearnbench/population"
)

// trainFromScratch is a real, small method for the runner's tests: a new
// MLP from the member's seed trained on the retain set with the recipe
// (what retrain does), counting its calls and calling hook first.
type trainFromScratch struct {
	calls *atomic.Int32
	hook  func(ctx context.Context, seed uint64) error
}

func (u trainFromScratch) Unlearn(ctx context.Context, in *Inputs) (*nn.Model, error) {
	u.calls.Add(1)
	if u.hook != nil {
		if err := u.hook(ctx, in.Seed); err != nil {
			return nil, err
		}
	}
	m, err := nn.New(nn.ArchMLP, in.Original.Shape, in.Original.Classes, in.Seed)
	if err != nil {
		return nil, err
	}
	cfg := in.Recipe
	cfg.Seed = in.Seed
	src, err := nn.DataBatches(m, in.Retain, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := nn.Train(in.Runtime, m, src, nil, cfg, nn.Options{}); err != nil {
		return nil, err
	}
	return m, ctx.Err()
}

func synthData(n int, seed uint64) *nn.Data {
	r := rand.New(rand.NewPCG(seed, 1))
	d := &nn.Data{Shape: []int64{1, 4, 4}}
	for i := range n {
		y := i % 3
		for k := range 16 {
			d.X = append(d.X, float32(r.NormFloat64()*0.5)+float32(y*(k%3))*0.3)
		}
		d.Y = append(d.Y, int64(y))
	}
	return d
}

func testShared(t *testing.T) *Shared {
	t.Helper()
	rt, err := ort.Init(ort.Options{IntraOpThreads: MemberThreads, InterOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	orig, err := nn.New(nn.ArchMLP, []int64{1, 4, 4}, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	s := &Shared{
		Inputs: Inputs{Original: orig, Retain: synthData(48, 1), Forget: synthData(9, 2), Validation: synthData(0, 3), Runtime: rt,
			Recipe: nn.TrainConfig{Epochs: 2, BatchSize: 16, Optimizer: nn.OptimizerConfig{Name: "sgd", LR: 0.05, Momentum: 0.9}, Schedule: nn.Schedule{Name: "constant"}}},
		Test:    synthData(12, 4),
		RunSeed: 7, Device: "cpu",
	}
	if err := s.Digests(); err != nil {
		t.Fatal(err)
	}
	return s
}

func openPop(t *testing.T, root string, p *PopulationSpec, s *Shared) *population.Dir {
	t.Helper()
	k, err := Key(p, s)
	if err != nil {
		t.Fatal(err)
	}
	d, err := population.OpenDir(root, p.Name, k)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestMemberSeeds(t *testing.T) {
	seen := map[uint64]bool{}
	for _, label := range []string{"reference", "retrain", "finetune"} {
		for i := range 50 {
			s := MemberSeed(3, label, i)
			if s >= 1<<63 || seen[s] {
				t.Fatalf("seed %d of %s member %d: repeated or above 2^63", s, label, i)
			}
			seen[s] = true
		}
	}
	if a, b := MemberSeed(3, "retrain", 5), MemberSeed(3, "retrain", 5); a != b || a == MemberSeed(4, "retrain", 5) {
		t.Fatal("seeds not a function of (run seed, label, index)")
	}
}

// Members computed by two workers, then grown, are bit-identical to the
// same members computed one at a time, and growing N computes only the new
// members.
func TestComputeParallelGrowAndDeterministic(t *testing.T) {
	s := testShared(t)
	var calls atomic.Int32
	p := &PopulationSpec{Name: "retrain", Method: "test-train", Params: Params{"epochs": 2}, Unlearner: trainFromScratch{calls: &calls}}
	root := t.TempDir()
	d := openPop(t, root, p, s)
	var last int
	if err := Compute(context.Background(), d, p, s, []int{0, 1, 2}, ComputeOptions{Workers: 2, Progress: func(done, total int) { last = done }}); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 || last != 3 {
		t.Fatalf("%d calls, progress %d; want 3 and 3", calls.Load(), last)
	}
	_, missing, err := d.Scan(context.Background(), 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(missing, []int{3, 4}) {
		t.Fatalf("missing %v after 3 members; want [3 4]", missing)
	}
	if err := Compute(context.Background(), d, p, s, missing, ComputeOptions{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 5 {
		t.Fatalf("growing N from 3 to 5 made %d calls in all; want 5", calls.Load())
	}
	par, err := d.Members(5)
	if err != nil {
		t.Fatal(err)
	}
	d1 := openPop(t, t.TempDir(), p, s)
	if err := Compute(context.Background(), d1, p, s, []int{4, 3, 2, 1, 0}, ComputeOptions{Workers: 1}); err != nil {
		t.Fatal(err)
	}
	seq, err := d1.Members(5)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		a, b := par[i], seq[i]
		if a.Seed != MemberSeed(7, "retrain", i) || a.Seed != b.Seed || !slices.Equal(a.Forget, b.Forget) || !slices.Equal(a.Retain, b.Retain) || !slices.Equal(a.Test, b.Test) {
			t.Fatalf("member %d differs between 2 workers and 1", i)
		}
		if a.E() != 9 || a.R() != 48 || a.T() != 12 || a.C != 3 {
			t.Fatalf("member %d: E %d R %d T %d C %d", i, a.E(), a.R(), a.T(), a.C)
		}
	}
	if slices.Equal(par[0].Forget, par[1].Forget) {
		t.Fatal("two members with the same logits: seeds not used")
	}
	// Another name for the same method is another population with other
	// seeds; another parameter value is another directory.
	k1, _ := Key(p, s)
	q := *p
	q.Name = "reference"
	k2, _ := Key(&q, s)
	q.Params = Params{"epochs": 3}
	k3, _ := Key(&q, s)
	if k1.Digest() == k2.Digest() || k2.Digest() == k3.Digest() {
		t.Fatal("keys do not separate names or parameters")
	}
}

// A cancelled run stops between members with the context's error, keeps
// every completed member and leaves no partial file.
func TestComputeCancelKeepsCompleted(t *testing.T) {
	s := testShared(t)
	var calls atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &PopulationSpec{Name: "retrain", Method: "test-train", Unlearner: trainFromScratch{calls: &calls, hook: func(_ context.Context, _ uint64) error {
		if calls.Load() == 3 {
			cancel()
		}
		return nil
	}}}
	d := openPop(t, t.TempDir(), p, s)
	err := Compute(ctx, d, p, s, []int{0, 1, 2, 3, 4, 5, 6, 7}, ComputeOptions{Workers: 1})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "stopped after 2 of 8") {
		t.Fatalf("cancelled run returned %v", err)
	}
	have, _, err := d.Scan(context.Background(), 8, func(w string) { t.Errorf("warning: %s", w) })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(have, []int{0, 1}) {
		t.Fatalf("complete members %v; want [0 1]", have)
	}
	ents, _ := os.ReadDir(d.Path)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Fatalf("left behind %s", filepath.Join(d.Path, e.Name()))
		}
	}
}

// A failing member stops the population and is named.
func TestComputeFailureNamesMember(t *testing.T) {
	s := testShared(t)
	var calls atomic.Int32
	bad := MemberSeed(7, "retrain", 2)
	p := &PopulationSpec{Name: "retrain", Method: "test-train", Unlearner: trainFromScratch{calls: &calls, hook: func(_ context.Context, seed uint64) error {
		if seed == bad {
			return errors.New("out of memory")
		}
		return nil
	}}}
	d := openPop(t, t.TempDir(), p, s)
	err := Compute(context.Background(), d, p, s, []int{0, 1, 2, 3}, ComputeOptions{Workers: 2})
	var me *MemberError
	if !errors.As(err, &me) || me.Index != 2 || !strings.Contains(err.Error(), "member 2") || !strings.Contains(err.Error(), "out of memory") {
		t.Fatalf("failure reported as %v", err)
	}
}

// keep_models puts each member's ONNX model beside its member file, and
// the model file reproduces the member's logits.
func TestComputeKeepModels(t *testing.T) {
	s := testShared(t)
	s.KeepModels = true
	var calls atomic.Int32
	p := &PopulationSpec{Name: "retrain", Method: "test-train", Unlearner: trainFromScratch{calls: &calls}}
	d := openPop(t, t.TempDir(), p, s)
	if err := Compute(context.Background(), d, p, s, []int{0}, ComputeOptions{Workers: 1}); err != nil {
		t.Fatal(err)
	}
	m, err := nn.Import(d.ModelPath(0))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := nn.NewEvaluator(s.Inputs.Runtime, m, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	lg, err := ev.Logits(s.Test)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := population.ReadMember(d.MemberPath(0))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lg, mem.Test) {
		t.Fatal("the kept model's test logits differ from the member's")
	}
	k1, _ := Key(p, s)
	s.KeepModels = false
	k2, _ := Key(p, s)
	if k1.Digest() == k2.Digest() {
		t.Fatal("keep_models not in the key")
	}
}
