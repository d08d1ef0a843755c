package nn

import (
	"math"
	"slices"
	"testing"

	"unlearnbench/nn/ort"
)

// deviceRuntime is a CPU runtime whose trainers keep their state in ONNX
// Runtime memory (the device-resident path, as on CUDA).
func deviceRuntime(t *testing.T) *ort.Runtime {
	t.Helper()
	r, err := ort.Init(ort.Options{DeviceResident: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestDeviceResidentTrainingEqualsHost drives a host trainer and a
// device-resident one (ONNX Runtime "Cpu" memory, the code CUDA runs) on
// the same steps of the cnn: plain steps, gradients read and edited
// through Grad, accumulation of two batches of opposite signs, an update
// mask, evaluations and Param reads between steps (the pull hook), a host
// write of the weights (re-upload) and the moments for a checkpoint. Loss,
// count, logits, GradsFinite, weights, buffers and moments must agree bit
// for bit: the same kernels run on the same data.
func TestDeviceResidentTrainingEqualsHost(t *testing.T) {
	drt := deviceRuntime(t)
	base := SmallCNN([]int64{1, 12, 12}, 5, 4)
	d := randomData(9, 160, base.Shape, 5)
	for _, opt := range []OptimizerConfig{
		{Name: "sgd", LR: 0.05, Momentum: 0.9, Nesterov: true, WeightDecay: 1e-3},
		{Name: "adamw", LR: 2e-3, WeightDecay: 0.05},
	} {
		hm, dm := base.Clone(), base.Clone()
		ht, err := NewTrainer(rt, hm, opt, LossConfig{}, 3)
		if err != nil {
			t.Fatal(err)
		}
		dt, err := NewTrainer(drt, dm, opt, LossConfig{}, 3)
		if err != nil {
			t.Fatal(err)
		}
		if dt.dev == nil || dm.dev == nil {
			t.Fatal("the DeviceResident runtime made a host trainer")
		}
		if _, err := NewTrainer(drt, dm, opt, LossConfig{}, 3); err == nil {
			t.Error("a second device-resident trainer on the same model was accepted")
		}
		mask := make([]float32, len(hm.Param(hm.Params[0])))
		for i := range mask {
			mask[i] = float32(i % 2)
		}
		hev, _ := NewEvaluator(rt, hm, 32)
		dev, _ := NewEvaluator(drt, dm, 32)
		for s := range 12 {
			idx := seqIdx(8*s, 8)
			hr, err1 := ht.Compute(d, idx)
			dr, err2 := dt.Compute(d, idx)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if hr != dr || !slices.Equal(ht.Logits(), dt.Logits()) || ht.GradsFinite() != dt.GradsFinite() {
				t.Fatalf("%s step %d: host %+v, device %+v (or logits differ)", opt.Name, s, hr, dr)
			}
			switch s % 4 {
			case 1: // a method edits a gradient between Compute and Apply
				for _, tr := range []*Trainer{ht, dt} {
					for i := range tr.Grad(base.Params[1]) {
						tr.Grad(base.Params[1])[i] *= 0.5
					}
				}
			case 2: // accumulation of two batches of opposite signs
				for _, tr := range []*Trainer{ht, dt} {
					must(t, tr.Accumulate(0.7))
					if _, err := tr.Compute(d, seqIdx(8*s+100%60, 8)); err != nil {
						t.Fatal(err)
					}
					must(t, tr.Accumulate(-0.3))
					must(t, tr.ApplyAccumulated(opt.LR))
				}
				continue
			case 3:
				must(t, ht.SetUpdateMask(base.Params[0], mask))
				must(t, dt.SetUpdateMask(base.Params[0], mask))
			}
			must(t, ht.Apply(opt.LR))
			must(t, dt.Apply(opt.LR))
			if s == 0 {
				// The step's weights stay on the device: the model's
				// memory, read without the hook, still holds the old ones.
				p := base.Params[1]
				if !slices.Equal(dm.Graph.Inits[p].F32, base.Graph.Inits[p].F32) || slices.Equal(hm.Graph.Inits[p].F32, base.Graph.Inits[p].F32) {
					t.Fatalf("%s: after a device step the host copy of %s was updated (or the host step did not move it)", opt.Name, p)
				}
			}
			if s == 6 {
				// A host write goes up before the next step.
				hm.Param(base.Params[2])[0] += 0.25
				dm.Param(base.Params[2])[0] += 0.25
			}
			if s%5 == 4 {
				hl, err1 := hev.Logits(d)
				dl, err2 := dev.Logits(d)
				if err1 != nil || err2 != nil || !slices.Equal(hl, dl) {
					t.Fatalf("%s step %d: evaluations differ (%v, %v)", opt.Name, s, err1, err2)
				}
			}
		}
		for j := range 2 {
			hs, ds := ht.opt.moments(j), dt.opt.moments(j)
			for k := range hs {
				if !slices.Equal(hs[k], ds[k]) {
					t.Fatalf("%s: moment %d of %s differs", opt.Name, j, base.Params[k])
				}
			}
		}
		// One more step after the moments went to the host and back.
		for _, tr := range []*Trainer{ht, dt} {
			if _, err := tr.Compute(d, seqIdx(150, 8)); err != nil {
				t.Fatal(err)
			}
			must(t, tr.Apply(opt.LR))
		}
		hev.Close()
		dev.Close()
		must(t, ht.Close())
		must(t, dt.Close())
		if dm.dev != nil {
			t.Fatal("the closed trainer left its hook on the model")
		}
		moved := false
		for _, p := range append(slices.Clone(base.Params), base.Buffers...) {
			if !slices.Equal(hm.Param(p), dm.Param(p)) {
				t.Fatalf("%s: %s differs between host and device training", opt.Name, p)
			}
			moved = moved || !slices.Equal(hm.Param(p), base.Param(p))
		}
		if !moved {
			t.Fatalf("%s: nothing moved", opt.Name)
		}
	}
}

// TestDeviceResidentGradsFinite: the device's flag reports a NaN gradient
// without the gradients leaving the device, and Train stops on it.
func TestDeviceResidentGradsFinite(t *testing.T) {
	drt := deviceRuntime(t)
	m := MLP([]int64{1, 4, 4}, []int64{8}, 3, 1)
	d := randomData(2, 16, m.Shape, 3)
	tr, err := NewTrainer(drt, m, OptimizerConfig{Name: "sgd", LR: 0.1}, LossConfig{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := tr.Compute(d, seqIdx(0, 8)); err != nil {
		t.Fatal(err)
	}
	if !tr.GradsFinite() {
		t.Fatal("finite gradients reported as not finite")
	}
	d.X[3] = float32(math.NaN())
	if _, err := tr.Compute(d, seqIdx(0, 8)); err != nil {
		t.Fatal(err)
	}
	if tr.GradsFinite() {
		t.Fatal("a NaN input gave gradients reported as finite")
	}
	d.X[3] = 0
	if _, err := tr.Compute(d, seqIdx(0, 8)); err != nil {
		t.Fatal(err)
	}
	tr.Grad(m.Params[0])[0] = float32(math.Inf(1)) // an edit on the host
	if tr.GradsFinite() {
		t.Fatal("an infinite gradient written through Grad was reported as finite")
	}
}

// TestDeviceResidentTrain: Train (evaluation after every epoch, checkpoint
// states with the optimiser's moments) gives the same history, weights and
// states on a device-resident runtime as on the host.
func TestDeviceResidentTrain(t *testing.T) {
	drt := deviceRuntime(t)
	base := SmallCNN([]int64{1, 8, 8}, 3, 2)
	d := randomData(4, 96, base.Shape, 3)
	ev := randomData(5, 40, base.Shape, 3)
	cfg := TrainConfig{Epochs: 3, BatchSize: 16, Seed: 2, Optimizer: OptimizerConfig{Name: "adam", LR: 3e-3, WeightDecay: 1e-3}, Schedule: Schedule{Name: "cosine"}}
	run := func(r *ort.Runtime) (*Model, []EpochResult, []*TrainState) {
		m := base.Clone()
		var states []*TrainState
		hist, err := trainData(r, m, d, ev, cfg, Options{Checkpoint: func(st *TrainState) error {
			states = append(states, st)
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		return m, hist, states
	}
	hm, hh, hs := run(rt)
	dm, dh, ds := run(drt)
	for i := range hh {
		if *hh[i].Eval != *dh[i].Eval || hh[i].TrainLoss != dh[i].TrainLoss || hh[i].TrainAcc != dh[i].TrainAcc {
			t.Fatalf("epoch %d: host %+v %+v, device %+v %+v", i+1, hh[i], *hh[i].Eval, dh[i], *dh[i].Eval)
		}
	}
	for i := range hs {
		for k := range hs[i].V {
			if !slices.Equal(hs[i].V[k], ds[i].V[k]) || !slices.Equal(hs[i].S[k], ds[i].S[k]) {
				t.Fatalf("checkpoint %d: moments of %s differ", i+1, base.Params[k])
			}
		}
	}
	for _, p := range append(slices.Clone(base.Params), base.Buffers...) {
		if !slices.Equal(hm.Param(p), dm.Param(p)) {
			t.Fatalf("%s differs", p)
		}
	}
}

// TestParamReadCountsAsNoChange: after a device-resident step, ParamRead
// brings the new weights to the host, but leaves the generation as it was
// and nothing for the Trainer to upload; Param marks both.
func TestParamReadCountsAsNoChange(t *testing.T) {
	m := SmallCNN([]int64{1, 8, 8}, 3, 1)
	d := randomData(7, 16, m.Shape, 3)
	before := slices.Clone(m.Graph.Inits[m.Params[0]].F32)
	tr, err := NewTrainer(deviceRuntime(t), m, OptimizerConfig{Name: "sgd", LR: 0.5}, LossConfig{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := tr.Compute(d, seqIdx(0, 16)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Apply(0.5); err != nil {
		t.Fatal(err)
	}
	if m.dev == nil || !m.dev.stale {
		t.Fatal("the step left the model's memory current: nothing to pull")
	}
	gen := m.Generation()
	w := m.ParamRead(m.Params[0])
	if slices.Equal(w, before) {
		t.Error("ParamRead returned the weights of before the step")
	}
	if m.Generation() != gen || m.dev.dirty {
		t.Errorf("ParamRead: generation %d -> %d, dirty %v; want no change", gen, m.Generation(), m.dev.dirty)
	}
	m.Param(m.Params[0])
	if m.Generation() == gen || !m.dev.dirty {
		t.Error("Param did not count as a possible write")
	}
}
