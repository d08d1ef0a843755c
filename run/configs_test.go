package run

import (
	"context"
	"unlearnbench/datasets"
	"unlearnbench/nn"
	"unlearnbench/result"

	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The GPU configs shipped in configs/ resolve and dry-run: here on small
// stand-ins for their data (a CIFAR-10 binary folder, a face folder with a
// person mapping), since neither data set nor a GPU is at hand.
func TestShippedGPUConfigsDryRun(t *testing.T) {
	needShippedMethods(t)
	dir := t.TempDir()
	cifar := filepath.Join(dir, "cifar-10-batches-bin")
	os.MkdirAll(cifar, 0o755)
	rec := make([]byte, 1+3072)
	for _, name := range []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"} {
		var b []byte
		for i := range 20 {
			rec[0] = byte(i % 10)
			for k := 1; k < len(rec); k++ {
				rec[k] = byte(i * k)
			}
			b = append(b, rec...)
		}
		if err := os.WriteFile(filepath.Join(cifar, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	faces := writeFaces(t, dir)
	for _, c := range []struct{ file, from, to, want string }{
		{"configs/cifar10-resnet18.yaml", "/data/cifar-10-batches-bin", cifar, "cifar10: 100 training, 20 test"},
		{"configs/competition-like.yaml", "/data/faces", faces, "the first 15 groups"},
	} {
		text := strings.ReplaceAll(readFile(t, c.file), c.from, c.to)
		text = strings.Replace(text, "name: ", "cache: "+filepath.Join(dir, "cache")+"\nname: ", 1)
		p := filepath.Join(dir, filepath.Base(c.file))
		os.WriteFile(p, []byte(text), 0o644)
		o, out, _ := mustExecute(t, p, Options{DryRun: true})
		for _, want := range []string{c.want, "device: cuda", "original: to train"} {
			if !strings.Contains(out, want) {
				t.Fatalf("%s: dry run lacks %q:\n%s", c.file, want, out)
			}
		}
		pl := o.Plan
		if pl == nil || pl.Original == nil || len(pl.Populations) < 2 || pl.Seconds <= 0 {
			t.Fatalf("%s: dry run's plan %+v; want the original to train and populations with an estimate", c.file, pl)
		}
		if ref := pl.Populations[0]; ref.Name != "reference" || ref.Method != "retrain" || ref.Missing != ref.N || !ref.Bound {
			t.Fatalf("%s: reference row %+v", c.file, ref)
		}
		if !slices.ContainsFunc(pl.Populations, func(r result.PlanRow) bool { return r.Method == "ssd" }) {
			t.Fatalf("%s: no ssd population in %+v", c.file, pl.Populations)
		}
	}
}

// writeFaces writes a stand-in for the competition's face folder under
// dir: 240 PNG images of 8x8 pixels and a mapping of each to an
// imbalanced label and one of 60 people (p00 to p59).
func writeFaces(t *testing.T, dir string) string {
	t.Helper()
	faces := filepath.Join(dir, "faces")
	os.MkdirAll(faces, 0o755)
	csv := "file,label,group\n"
	for i := range 240 {
		img := image.NewRGBA(image.Rect(0, 0, 8, 8))
		for k := range img.Pix {
			img.Pix[k] = byte(i + k)
		}
		var b bytes.Buffer
		png.Encode(&b, img)
		name := fmt.Sprintf("face%03d.png", i)
		if err := os.WriteFile(filepath.Join(faces, name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		label := min(i%13, 9) // imbalanced: class 9 gets four residues
		csv += fmt.Sprintf("%s,%d,p%02d\n", name, label, i%60)
	}
	if err := os.WriteFile(filepath.Join(faces, "mapping.csv"), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	return faces
}

// TestCompetitionConfigFollowsReleasedCode checks configs/competition-like.yaml
// point by point against the competition's released code
// (google-deepmind/unlearning_evaluation; each want names its file):
// the resolved config field by field, then the data, split and training
// recipe it resolves to on the stand-in face folder, then its dry run.
func TestCompetitionConfigFollowsReleasedCode(t *testing.T) {
	needShippedMethods(t)
	dir := t.TempDir()
	faces := writeFaces(t, dir)
	text := strings.ReplaceAll(readFile(t, "configs/competition-like.yaml"), "/data/faces", faces)
	text = strings.Replace(text, "name: ", "cache: "+filepath.Join(dir, "cache")+"\nname: ", 1)
	p := filepath.Join(dir, "competition-like.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %#v, want %#v", what, got, want)
		}
	}
	r := cfg.Recipe
	seed := uint64(43)
	for _, c := range []struct {
		what      string
		got, want any
	}{
		// surf.py: get_dataset's SURFDataset(width=32, height=32), float pixels 0-255.
		{"data.dataset", cfg.Data.Dataset, "folder"},
		{"data.image_size", cfg.Data.ImageSize, "32x32"},
		{"data.channels", cfg.Data.Channels, 3},
		{"data.pixel_scale", cfg.Data.PixelScale, "raw"},
		{"normalize", cfg.Normalize, ""},
		// surf.py: random.Random(43).shuffle, 80/10/10 cuts, LeavePGroupsOut(n_groups=15).
		{"split.python_shuffle", cfg.Split.PythonShuffle, &seed},
		{"split.test", cfg.Split.Test, "0.1"},
		{"split.validation", cfg.Split.Validation, "0.1"},
		{"split.forget", cfg.Split.Forget, ForgetConfig{FirstGroups: 15}},
		// train_lib.py: models.resnet18(weights=None, num_classes=10).
		{"model", cfg.Model, nn.ArchResNet18},
		{"original", cfg.Original, ""},
		// main.py NUM_EPOCHS, surf.py batch_size=64, train_lib.py's Adam,
		// cosine per epoch, weighted loss, best validation checkpoint.
		{"recipe.epochs", r.Epochs, 30},
		{"recipe.batch_size", r.BatchSize, 64},
		{"recipe.optimizer", r.Optimizer, nn.OptimizerConfig{Name: "adam", LR: 1e-4, WeightDecay: 5e-3}},
		{"recipe.schedule", r.Schedule, nn.Schedule{Name: "cosine_epochs", Gamma: 0.1}},
		{"recipe.loss", r.Loss, nn.LossConfig{InverseFrequency: true}},
		{"recipe.augment", r.Augment, nn.Augment{}},
		{"recipe.best_validation", r.BestValidation, &nn.BestValidation{MinEpoch: 0, RetrainMinEpoch: 20}},
		// main.py: _NUM_MODELS 512, the reference retrained on the retain set.
		{"n", cfg.N, 512},
		{"reference", cfg.Reference.Method, "retrain"},
		// main.py do_unlearning: 1 epoch of SGD lr 0.001, momentum 0.9,
		// weight decay 5e-4 on the retain set, lr constant through it.
		{"methods[0]", cfg.Methods[0].Method, "finetune"},
		{"methods[0].params", cfg.Methods[0].Params, map[string]any{"epochs": 1, "lr": 0.001, "momentum": 0.9, "weight_decay": 0.0005, "batch_size": 64, "schedule": "constant", "l2_pull": 0.0}},
	} {
		check(c.what, c.got, c.want)
	}

	// What the config resolves to on data.
	s, err := loadData(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := s.src.Train.N
	perm, _ := datasets.PythonShuffle(43, n)
	sorted := func(p []int) []int { p = slices.Clone(p); slices.Sort(p); return p }
	check("n", n, 240)
	check("training set", s.trainIdx, sorted(perm[:192])) // int(0.8*240)
	check("validation set", s.split.Validation, sorted(perm[192:216]))
	check("test set", s.split.Test, sorted(perm[216:]))
	var people []string
	for _, i := range s.trainIdx {
		people = append(people, s.src.Train.GroupName(s.src.Train.Groups[i]))
	}
	slices.Sort(people)
	check("forgotten people", s.split.ChosenGroups, slices.Compact(people)[:15])
	// Pixels 0-255, unnormalised: the stand-in's bytes, as floats.
	sz := s.src.Train.Size()
	for j, i := range s.trainIdx[:5] {
		for k := range sz {
			if got, want := s.train.X[j*sz+k], float32(s.src.Train.Pixels[i*sz+k]); got != want {
				t.Fatalf("training example %d value %d: %v, want the byte %v", i, k, got, want)
			}
		}
	}
	// surf.py's class weights: 1/count of each class in the training set.
	counts := make([]int, 10)
	for _, i := range s.trainIdx {
		counts[s.src.Train.Labels[i]]++
	}
	var w []float32
	for _, c := range counts {
		w = append(w, float32(1/float64(c)))
	}
	check("training recipe's class weights", s.recipe.Loss.ClassWeights, w)
	check("config's recipe unchanged", cfg.Recipe.Loss.ClassWeights, []float32(nil))

	o, out, _ := mustExecute(t, p, Options{DryRun: true})
	for _, want := range []string{"forget: the first 15 groups", "24 validation, 24 test", "original: to train", "pixel_scale: raw", "python_shuffle: 43", "inverse_frequency: true", "name: cosine_epochs", "retrain_min_epoch: 20"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	if o.Plan == nil || len(o.Plan.Populations) != 13 || o.Plan.Populations[1].Name != "example" {
		t.Errorf("plan %+v; want the reference, the example unlearner and the 11 other methods", o.Plan)
	}
}

// TestCompetitionConfigRunsSmall runs configs/competition-like.yaml for
// real, scaled down to fit a test (the small CNN, 3 epochs with retrained
// models kept from epoch 1, N = 8, the example unlearner only, on the
// CPU): the original and the retrained models train with surf.py's class
// weights, raw pixels and the best validation epoch, and the run scores.
func TestCompetitionConfigRunsSmall(t *testing.T) {
	needShippedMethods(t)
	dir := t.TempDir()
	faces := writeFaces(t, dir)
	text := strings.ReplaceAll(readFile(t, "configs/competition-like.yaml"), "/data/faces", faces)
	head, _, _ := strings.Cut(text, "\nmethods:\n")
	_, tail, _ := strings.Cut(text, "\nattacks:\n")
	text = head + "\nmethods:\n  - {name: example, method: finetune, params: {epochs: 1, lr: 0.001, momentum: 0.9, weight_decay: 0.0005, batch_size: 64, schedule: constant}}\nattacks:\n" + tail
	for old, repl := range map[string]string{"model: resnet18": "model: cnn", "epochs: 30": "epochs: 3", "retrain_min_epoch: 20": "retrain_min_epoch: 1",
		"n: 512": "n: 8", "enabled: true": "enabled: false", "device: cuda": "device: cpu", "name: competition-like": "name: c\ncache: " + filepath.Join(dir, "cache") + "\nruns: " + filepath.Join(dir, "runs")} {
		if !strings.Contains(text, old) {
			t.Fatalf("the config has no %q to scale down", old)
		}
		text = strings.Replace(text, old, repl, 1)
	}
	p := filepath.Join(dir, "small.yaml")
	os.WriteFile(p, []byte(text), 0o644)
	o, out, _ := mustExecute(t, p, Options{})
	if r := o.Result; r == nil || len(r.Methods) != 1 || r.Methods[0].Name != "example" || r.Methods[0].Score.Final == nil {
		t.Fatalf("want a final score of the example unlearner:\n%s", out)
	}
	origs, _ := filepath.Glob(filepath.Join(dir, "cache", "original*", "*"))
	if len(origs) == 0 {
		origs, _ = filepath.Glob(filepath.Join(dir, "cache", "*", "*.onnx"))
	}
	if len(origs) != 1 {
		t.Fatalf("cached originals %v; want one", origs)
	}
	m, err := nn.Import(origs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range append(slices.Clone(m.Params), m.Buffers...) {
		if strings.Contains(name, "norm") {
			t.Errorf("the original normalises its input (%s); at the raw pixel scale it must not", name)
		}
	}
}
