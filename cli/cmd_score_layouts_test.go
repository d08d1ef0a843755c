package cli

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"unlearnbench/internal/arrays"
	"unlearnbench/result"
)

// The layouts PyTorch users save, each read directly: a folder of one .npy
// per model, several files after one flag (a shell glob), float16 and
// bfloat16-as-uint16 logits, accuracies as .npy and .npz. Each must score
// exactly as the stacked float32 array with CSV accuracies does.

const layoutN, layoutE, layoutC = 6, 4, 3

// layoutLogit is population p's logit of model i, example j, class k: a
// multiple of 1/8 below 8 in magnitude, so float16 and bfloat16 hold it
// exactly.
func layoutLogit(p, i, j, k int) float32 {
	v := math.Round(8*(2*math.Sin(float64(7*i+3*j+5*k+11*p))+0.4*float64(p*(i%3)))) / 8
	return float32(v)
}

func layoutModel(p, i int) []float32 {
	out := make([]float32, 0, layoutE*layoutC)
	for j := 0; j < layoutE; j++ {
		for k := 0; k < layoutC; k++ {
			out = append(out, layoutLogit(p, i, j, k))
		}
	}
	return out
}

// writeRaw writes an .npy of any descr from raw little-endian bytes, as
// np.save lays it out (version 1.0, header padded to 64 bytes).
func writeRaw(t *testing.T, path, descr string, shape []int, data []byte) string {
	t.Helper()
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, tuple)
	for (10+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
	b = append(append(b, h...), data...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func halfBits(v float32) uint16 {
	// The test's values are multiples of 1/8 below 16: normal float16s.
	b := math.Float32bits(v)
	if v == 0 {
		return uint16(b >> 16)
	}
	exp := int(b>>23&0xff) - 127 + 15
	return uint16(b>>16&0x8000) | uint16(exp)<<10 | uint16(b>>13&0x3ff)
}

func writeLayouts(t *testing.T, dir string) map[string]string {
	files := map[string]string{}
	labels := make([]int64, layoutE)
	for j := range labels {
		labels[j] = int64(j % layoutC)
	}
	files["labels"] = filepath.Join(dir, "labels.npy")
	if err := arrays.WriteNPY(files["labels"], arrays.Tensor[int64]{Shape: []int{layoutE}, Data: labels}); err != nil {
		t.Fatal(err)
	}
	for p, pop := range []string{"u", "r"} {
		var all []float32
		var f16, bf16 []byte
		folder := filepath.Join(dir, pop)
		if err := os.Mkdir(folder, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < layoutN; i++ {
			m := layoutModel(p, i)
			all = append(all, m...)
			path := filepath.Join(folder, fmt.Sprintf("model_%02d.npy", i))
			if err := arrays.WriteNPY(path, arrays.Tensor[float32]{Shape: []int{layoutE, layoutC}, Data: m}); err != nil {
				t.Fatal(err)
			}
			files[pop+"-list"] += path + "\n"
		}
		for _, v := range all {
			f16 = binary.LittleEndian.AppendUint16(f16, halfBits(v))
			bf16 = binary.LittleEndian.AppendUint16(bf16, uint16(math.Float32bits(v)>>16))
		}
		shape := []int{layoutN, layoutE, layoutC}
		files[pop] = filepath.Join(dir, pop+".npy")
		if err := arrays.WriteNPY(files[pop], arrays.Tensor[float32]{Shape: shape, Data: all}); err != nil {
			t.Fatal(err)
		}
		files[pop+"-folder"] = folder
		files[pop+"-f16"] = writeRaw(t, filepath.Join(dir, pop+"16.npy"), "<f2", shape, f16)
		files[pop+"-bf16"] = writeRaw(t, filepath.Join(dir, pop+"bf16.npy"), "<u2", shape, bf16)
		// Accuracies three ways.
		var csv strings.Builder
		csv.WriteString("retain,test\n")
		acc := make([]float64, 0, 2*layoutN)
		ret, tst := make([]float64, layoutN), make([]float64, layoutN)
		for i := 0; i < layoutN; i++ {
			ret[i], tst[i] = 0.9-0.01*float64(i+p), 0.8-0.02*float64(i)
			acc = append(acc, ret[i], tst[i])
			fmt.Fprintf(&csv, "%v,%v\n", ret[i], tst[i])
		}
		files[pop+"-csv"] = filepath.Join(dir, pop+"_acc.csv")
		if err := os.WriteFile(files[pop+"-csv"], []byte(csv.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		files[pop+"-accnpy"] = filepath.Join(dir, pop+"_acc.npy")
		if err := arrays.WriteNPY(files[pop+"-accnpy"], arrays.Tensor[float64]{Shape: []int{layoutN, 2}, Data: acc}); err != nil {
			t.Fatal(err)
		}
		z := arrays.NPZ{}
		arrays.Add(z, "retain", arrays.Tensor[float64]{Shape: []int{layoutN}, Data: ret})
		arrays.Add(z, "test", arrays.Tensor[float64]{Shape: []int{layoutN}, Data: tst})
		files[pop+"-accnpz"] = filepath.Join(dir, pop+"_acc.npz")
		if err := arrays.WriteNPZ(files[pop+"-accnpz"], z); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

func scoreJSON(t *testing.T, dir, name string, args ...string) (*result.Method, string) {
	t.Helper()
	out := filepath.Join(dir, name+".json")
	code, text := runCmd(append(append([]string{"score"}, args...), "--json", out)...)
	if code != 0 {
		t.Fatalf("%s: exit %d:\n%s", name, code, text)
	}
	res, err := result.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	return &res.Methods[0], text
}

func TestScorePyTorchLayouts(t *testing.T) {
	dir := t.TempDir()
	f := writeLayouts(t, dir)
	acc := func(kind string) []string {
		return []string{"--unlearned-acc", f["u-"+kind], "--retrained-acc", f["r-"+kind]}
	}
	base := []string{"--labels", f["labels"]}
	want, _ := scoreJSON(t, dir, "stacked", append(append([]string{"--unlearned", f["u"], "--retrained", f["r"]}, base...), acc("csv")...)...)
	if want.Score.Final == nil {
		t.Fatal("no final score from the stacked files")
	}
	list := func(pop string) []string { return strings.Fields(f[pop+"-list"]) }
	globArgs := append(append(append([]string{"--unlearned"}, list("u")...), "--retrained"), list("r")...)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"folder", append([]string{"--unlearned", f["u-folder"], "--retrained", f["r-folder"]}, acc("csv")...)},
		{"glob", append(slices.Clone(globArgs), acc("csv")...)},
		{"float16", append([]string{"--unlearned", f["u-f16"], "--retrained", f["r-f16"]}, acc("csv")...)},
		{"bfloat16", append([]string{"--unlearned", f["u-bf16"], "--retrained", f["r-bf16"]}, acc("csv")...)},
		{"acc-npy", append([]string{"--unlearned", f["u"], "--retrained", f["r"]}, acc("accnpy")...)},
		{"acc-npz", append([]string{"--unlearned", f["u"], "--retrained", f["r"]}, acc("accnpz")...)},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, text := scoreJSON(t, dir, c.name, append(c.args, base...)...)
			if got.Score.F != want.Score.F || *got.Score.Final != *want.Score.Final {
				t.Fatalf("F %v, final %v; the stacked float32 array gives %v, %v", got.Score.F, *got.Score.Final, want.Score.F, *want.Score.Final)
			}
			for j := range want.Examples {
				if got.Examples[j].Epsilon != want.Examples[j].Epsilon {
					t.Fatalf("example %d: epsilon %v, stacked %v", j, got.Examples[j].Epsilon, want.Examples[j].Epsilon)
				}
			}
			if c.name == "bfloat16" && !strings.Contains(text, "bfloat16 bit patterns") {
				t.Fatalf("no note that uint16 was read as bfloat16:\n%s", text)
			}
		})
	}
}

func TestScoreWarnsOfProbabilities(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, a, b float32) string {
		probs := make([]float32, 0, layoutN*layoutE*layoutC)
		for i := 0; i < layoutN*layoutE; i++ {
			probs = append(probs, a, b, 1-a-b)
		}
		p := filepath.Join(dir, name)
		if err := arrays.WriteNPY(p, arrays.Tensor[float32]{Shape: []int{layoutN, layoutE, layoutC}, Data: probs}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	u, r := write("u.npy", 0.5, 0.25), write("r.npy", 0.4, 0.3)
	labels := filepath.Join(dir, "labels.npy")
	arrays.WriteNPY(labels, arrays.Tensor[int64]{Shape: []int{layoutE}, Data: []int64{0, 1, 2, 0}})
	m, _ := scoreJSON(t, dir, "probs", "--unlearned", u, "--retrained", r, "--labels", labels)
	if !slices.ContainsFunc(m.Warnings, func(w string) bool { return strings.Contains(w, "look like softmax probabilities") }) {
		t.Fatalf("warnings %q", m.Warnings)
	}
}

func TestScoreLayoutsBadInput(t *testing.T) {
	dir := t.TempDir()
	f := writeLayouts(t, dir)
	bad := func(name string, write func(folder string)) string {
		folder := filepath.Join(dir, name)
		if err := os.Mkdir(folder, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < layoutN; i++ {
			path := filepath.Join(folder, fmt.Sprintf("model_%02d.npy", i))
			if err := arrays.WriteNPY(path, arrays.Tensor[float32]{Shape: []int{layoutE, layoutC}, Data: layoutModel(0, i)}); err != nil {
				t.Fatal(err)
			}
		}
		write(folder)
		return folder
	}
	shapes := bad("shapes", func(d string) {
		arrays.WriteNPY(filepath.Join(d, "model_03.npy"), arrays.Tensor[float32]{Shape: []int{layoutE + 1, layoutC}, Data: make([]float32, (layoutE+1)*layoutC)})
	})
	dtypes := bad("dtypes", func(d string) {
		arrays.WriteNPY(filepath.Join(d, "model_02.npy"), arrays.Tensor[float64]{Shape: []int{layoutE, layoutC}, Data: make([]float64, layoutE*layoutC)})
	})
	mixed := bad("mixed", func(d string) {
		arrays.WriteNPY(filepath.Join(d, "model_04.npy"), arrays.Tensor[float32]{Shape: []int{layoutE}, Data: make([]float32, layoutE)})
	})
	nan := bad("nan", func(d string) {
		m := layoutModel(0, 5)
		m[2*layoutC+1] = float32(math.Inf(-1))
		arrays.WriteNPY(filepath.Join(d, "model_05.npy"), arrays.Tensor[float32]{Shape: []int{layoutE, layoutC}, Data: m})
	})
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	labels3 := filepath.Join(dir, "labels3.npy")
	arrays.WriteNPY(labels3, arrays.Tensor[int64]{Shape: []int{3}, Data: []int64{0, 1, 2}})
	r := []string{"--retrained", f["r-folder"], "--labels", f["labels"]}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"shapes", append([]string{"--unlearned", shapes}, r...), []string{"model_03.npy", "shape (5, 3)", "model_00.npy", "(4, 3)"}},
		{"dtypes", append([]string{"--unlearned", dtypes}, r...), []string{"model_02.npy", "<f8", "<f4"}},
		{"mixed", append([]string{"--unlearned", mixed}, r...), []string{"model_04.npy", "shape (4,)", "(4, 3)"}},
		{"nan", append([]string{"--unlearned", nan}, r...), []string{"model_05.npy", "example 2, class 1", "-Inf"}},
		{"empty", append([]string{"--unlearned", empty}, r...), []string{"empty", "no .npy files"}},
		{"labels", []string{"--unlearned", f["u-folder"], "--retrained", f["r-folder"], "--labels", labels3}, []string{"labels3.npy", "3 labels", "4 examples"}},
		{"N differs", []string{"--unlearned", f["u-folder"], "--retrained", strings.Fields(f["r-list"])[0], strings.Fields(f["r-list"])[1], "--labels", f["labels"]}, []string{"2 files", "N = 6"}},
		{"acc npy shape", []string{"--unlearned", f["u"], "--retrained", f["r"], "--labels", f["labels"], "--unlearned-acc", f["u"], "--retrained-acc", f["r-accnpy"]}, []string{"u.npy", "shape (6, 4, 3)", "(N, 2)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantUserError(t, dir, c.name, append([]string{"score"}, c.args...), c.want)
		})
	}
}

func TestExpandFileLists(t *testing.T) {
	got := expandFileLists([]string{"score", "--unlearned", "a", "b", "--retrained=c", "d", "--json", "x", "--method", "m"})
	want := []string{"score", "--unlearned", "a", "--unlearned", "b", "--retrained=c", "--retrained", "d", "--json", "x", "--method", "m"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	// Other commands keep their arguments.
	other := []string{"train", "--unlearned", "a", "b"}
	if got := expandFileLists(other); !slices.Equal(got, other) {
		t.Fatalf("got %q", got)
	}
}
