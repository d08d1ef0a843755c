package datasets

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"unlearnbench/internal/usererr"
)

// idxBytes encodes an unsigned-byte IDX array.
func idxBytes(dims []int, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 8, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(data)
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func writeFile(t testing.TB, path string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantUserErr fails unless err is a one-line user error containing every part.
func wantUserErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one containing %q", parts)
	}
	if !usererr.Is(err) {
		t.Errorf("error %q is not marked as the user's", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error spans lines: %q", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func TestReadIDX(t *testing.T) {
	data := []byte{1, 2, 3, 4, 5, 6}
	raw := idxBytes([]int{3, 2}, data)
	for name, b := range map[string][]byte{"raw": raw, "gzip": gz(raw)} {
		idx, err := ReadIDX(bytes.NewReader(b), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(idx.Dims, []int{3, 2}) || !bytes.Equal(idx.Data, data) {
			t.Errorf("%s: got %v %v", name, idx.Dims, idx.Data)
		}
	}
	// Larger than a few growth steps of the reader, through gzip.
	defer func(c int64) { idxChunk = c }(idxChunk)
	idxChunk = 16
	big := make([]byte, 1000)
	big[len(big)-1] = 7
	idx, err := ReadIDX(bytes.NewReader(gz(idxBytes([]int{len(big)}, big))), "big")
	if err != nil || len(idx.Data) != len(big) || idx.Data[len(big)-1] != 7 {
		t.Fatalf("big: %v", err)
	}

	corrupt := gz(raw)
	corrupt[len(corrupt)-5] ^= 0xff // the CRC-32
	for _, c := range []struct {
		name  string
		in    []byte
		parts []string
	}{
		{"empty", nil, []string{"empty: offset 0: magic", "truncated"}},
		{"magic", []byte{1, 2, 8, 1, 0, 0, 0, 0}, []string{"offset 0: magic", "not an IDX file"}},
		{"type", []byte{0, 0, 0x0d, 1, 0, 0, 0, 0}, []string{"offset 2: type", "0x0d (float)"}},
		{"dims", []byte{0, 0, 8, 0}, []string{"offset 3: dimensions", "0; want 1 to 4"}},
		{"sizes", raw[:9], []string{"offset 9: sizes", "truncated"}},
		{"data", raw[:len(raw)-2], []string{"offset 16: data", "truncated", "6 bytes for sizes [3 2]"}},
		{"trailing", append(slices.Clone(raw), 0), []string{"offset 18: end", "unexpected bytes"}},
		{"huge", idxBytes([]int{1 << 30, 1 << 30}, nil), []string{"offset 8: size 1", "exceed"}},
		{"crc", corrupt, []string{"crc (gunzipped)", "checksum"}},
		{"gzip", []byte{0x1f, 0x8b, 0}, []string{"gzip header"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadIDX(bytes.NewReader(c.in), c.name)
			wantUserErr(t, err, c.parts...)
		})
	}
}

// writeMNIST writes a small MNIST-style folder; gzipped when zip.
func writeMNIST(t testing.TB, dir string, zip bool, ntrain, ntest int, labels func(i int) byte) {
	for _, p := range []struct {
		stem string
		n    int
	}{{"train", ntrain}, {"t10k", ntest}} {
		img := make([]byte, p.n*4*3)
		lbl := make([]byte, p.n)
		for i := range lbl {
			lbl[i] = labels(i)
			for j := range 12 {
				img[i*12+j] = byte(i + j)
			}
		}
		enc := func(b []byte) []byte { return b }
		suffix := ""
		if zip {
			enc, suffix = gz, ".gz"
		}
		writeFile(t, filepath.Join(dir, p.stem+"-images-idx3-ubyte"+suffix), enc(idxBytes([]int{p.n, 4, 3}, img)))
		writeFile(t, filepath.Join(dir, p.stem+"-labels-idx1-ubyte"+suffix), enc(idxBytes([]int{p.n}, lbl)))
	}
}

func TestLoadMNIST(t *testing.T) {
	for _, zip := range []bool{false, true} {
		dir := t.TempDir()
		writeMNIST(t, dir, zip, 5, 3, func(i int) byte { return byte(i % 10) })
		src, err := LoadMNIST(dir)
		if err != nil {
			t.Fatal(err)
		}
		if src.Train.N != 5 || src.Test.N != 3 || src.Train.H != 4 || src.Train.W != 3 || src.Train.Pixels[12] != 1 || src.Test.Labels[2] != 2 {
			t.Errorf("zip=%v: %v", zip, src)
		}
	}

	dir := t.TempDir()
	writeMNIST(t, dir, true, 5, 3, func(i int) byte { return byte(7 + i) })
	_, err := LoadMNIST(dir)
	wantUserErr(t, err, "train-labels-idx1-ubyte.gz: offset 11: label 3: 10 is outside the 10 classes")

	writeFile(t, filepath.Join(dir, "train-labels-idx1-ubyte.gz"), gz(idxBytes([]int{4}, []byte{1, 2, 3, 4})))
	_, err = LoadMNIST(dir)
	wantUserErr(t, err, "train-labels-idx1-ubyte.gz: offset 4: size 0: 4 labels for the 5 images")

	_, err = LoadFashionMNIST(t.TempDir())
	wantUserErr(t, err, "train-images-idx3-ubyte[.gz] not found", "apt-get install dataset-fashion-mnist", "--data DIR")
	_, err = LoadMNIST("")
	wantUserErr(t, err, "--data DIR")
}

// cifarRecords encodes n CIFAR records whose label bytes are labels(i) and
// whose pixels encode i.
func cifarRecords(f CIFARFormat, n int, labels func(i int) []byte) []byte {
	var b bytes.Buffer
	for i := range n {
		b.Write(labels(i)[:f.LabelBytes])
		px := make([]byte, cifarPixels)
		for j := range px {
			px[j] = byte(i*7 + j/1024) // channel j/1024 of image i
		}
		b.Write(px)
	}
	return b.Bytes()
}

func TestLoadCIFAR10(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "cifar-10-batches-bin")
	for k := 1; k <= 5; k++ {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("data_batch_%d.bin", k)), cifarRecords(CIFAR10, 2, func(i int) []byte { return []byte{byte(2*(k-1) + i)} }))
	}
	writeFile(t, filepath.Join(dir, "test_batch.bin"), cifarRecords(CIFAR10, 3, func(i int) []byte { return []byte{9 - byte(i)} }))
	writeFile(t, filepath.Join(dir, "batches.meta.txt"), []byte("airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n"))
	src, err := LoadCIFAR(root, CIFAR10) // the folder above, as the archive unpacks
	if err != nil {
		t.Fatal(err)
	}
	tr := src.Train
	if tr.N != 10 || src.Test.N != 3 || tr.C != 3 || tr.H != 32 || tr.Classes != 10 || tr.ClassName(3) != "cat" {
		t.Fatalf("%v", src)
	}
	if !slices.Equal(tr.Labels, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) || !slices.Equal(src.Test.Labels, []int64{9, 8, 7}) {
		t.Errorf("labels %v %v", tr.Labels, src.Test.Labels)
	}
	// Image 3 (batch 2, record 1): red plane 7, green 8, blue 9.
	if px := tr.Pixels[3*cifarPixels:]; px[0] != 7 || px[1024] != 8 || px[2048+1023] != 9 {
		t.Errorf("pixels of image 3: %d %d %d", px[0], px[1024], px[2048+1023])
	}

	writeFile(t, filepath.Join(dir, "test_batch.bin"), cifarRecords(CIFAR10, 3, func(i int) []byte { return []byte{byte(8 + i)} }))
	_, err = LoadCIFAR(dir, CIFAR10)
	wantUserErr(t, err, "test_batch.bin: offset 6146: record 2 label: 10 is outside the 10 classes")

	writeFile(t, filepath.Join(dir, "test_batch.bin"), cifarRecords(CIFAR10, 3, func(i int) []byte { return []byte{1} })[:3*3073-10])
	_, err = LoadCIFAR(dir, CIFAR10)
	wantUserErr(t, err, "test_batch.bin: offset 6146: record 2: file size 9209 is not a multiple of the 3073-byte cifar10 record", "truncated")

	os.Remove(filepath.Join(dir, "data_batch_4.bin"))
	_, err = LoadCIFAR(dir, CIFAR10)
	wantUserErr(t, err, "data_batch_4.bin", "--data DIR")
}

func TestLoadCIFAR100(t *testing.T) {
	dir := t.TempDir()
	rec := func(i int) []byte { return []byte{byte(i % 20), byte(99 - i)} }
	writeFile(t, filepath.Join(dir, "train.bin"), cifarRecords(CIFAR100, 4, rec))
	writeFile(t, filepath.Join(dir, "test.bin"), cifarRecords(CIFAR100, 2, rec))
	src, err := LoadCIFAR(dir, CIFAR100)
	if err != nil {
		t.Fatal(err)
	}
	if src.Train.Classes != 100 || !slices.Equal(src.Train.Labels, []int64{99, 98, 97, 96}) || src.Train.Pixels[cifarPixels] != 7 {
		t.Errorf("fine: %v %v", src.Train.Labels, src.Train.Pixels[cifarPixels])
	}
	src, err = LoadCIFAR(dir, CIFAR100Coarse)
	if err != nil {
		t.Fatal(err)
	}
	if src.Train.Classes != 20 || !slices.Equal(src.Test.Labels, []int64{0, 1}) {
		t.Errorf("coarse: %v", src.Test.Labels)
	}
	writeFile(t, filepath.Join(dir, "fine_label_names.txt"), []byte("apple\npear\n"))
	_, err = LoadCIFAR(dir, CIFAR100)
	wantUserErr(t, err, "fine_label_names.txt: 2 class names, want 100")
	writeFile(t, filepath.Join(dir, "test.bin"), nil)
	_, err = LoadCIFAR(dir, CIFAR100Coarse)
	wantUserErr(t, err, "test.bin: offset 0: record 0: empty file")
}
