package run

import (
	"unlearnbench/result"

	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
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
		os.WriteFile(filepath.Join(faces, name), b.Bytes(), 0o644)
		label := min(i%13, 9) // imbalanced: class 9 gets four residues
		csv += fmt.Sprintf("%s,%d,p%02d\n", name, label, i%60)
	}
	os.WriteFile(filepath.Join(faces, "mapping.csv"), []byte(csv), 0o644)
	for _, c := range []struct{ file, from, to, want string }{
		{"configs/cifar10-resnet18.yaml", "/data/cifar-10-batches-bin", cifar, "cifar10: 100 training, 20 test"},
		{"configs/competition-like.yaml", "/data/faces", faces, "15 random groups"},
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
