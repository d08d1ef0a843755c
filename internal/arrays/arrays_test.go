package arrays

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unlearnbench/internal/usererr"
)

// npyBytes builds a .npy stream the way NumPy's np.save does (version 1.0,
// header padded with spaces to a multiple of 64 bytes and ended by '\n').
func npyBytes(dict string, data []byte) []byte {
	total := 10 + len(dict) + 1
	pad := (64 - total%64) % 64
	h := dict + strings.Repeat(" ", pad) + "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
	b = append(b, h...)
	return append(b, data...)
}

func le32(vals ...float32) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func decode(t *testing.T, b []byte) (*Array, error) {
	t.Helper()
	return Decode(bytes.NewReader(b), int64(len(b)), "x.npy")
}

func TestDecodeNumPyLayout(t *testing.T) {
	b := npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", le32(0, 1, 2, 3, 4, 5))
	if (len(b)-6*4)%64 != 0 {
		t.Fatalf("fixture header not 64-aligned: %d", len(b))
	}
	a, err := decode(t, b)
	if err != nil {
		t.Fatal(err)
	}
	if a.ShapeString() != "(2, 3)" || a.Kind() != "float32" {
		t.Fatalf("shape %s kind %s", a.ShapeString(), a.Kind())
	}
	f, err := a.Float64s()
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range f {
		if v != float64(i) {
			t.Fatalf("element %d = %v", i, v)
		}
	}
	if _, err := a.Ints(); err == nil || !usererr.Is(err) {
		t.Fatalf("float array read as ints: %v", err)
	}
}

func TestDecodeFortranOrderAndBigEndian(t *testing.T) {
	// A 2x3 array [[0,1,2],[3,4,5]] stored column-major is 0,3,1,4,2,5.
	var data []byte
	for _, v := range []float64{0, 3, 1, 4, 2, 5} {
		data = binary.BigEndian.AppendUint64(data, math.Float64bits(v))
	}
	a, err := decode(t, npyBytes("{'descr': '>f8', 'fortran_order': True, 'shape': (2, 3), }", data))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := a.Float64s()
	for i, v := range f {
		if v != float64(i) {
			t.Fatalf("element %d = %v, want %d (got %v)", i, v, i, f)
		}
	}
}

func TestIntsOfEveryWidth(t *testing.T) {
	cases := []struct {
		descr string
		data  []byte
		want  []int64
	}{
		{"|u1", []byte{0, 255}, []int64{0, 255}},
		{"|i1", []byte{0, 255}, []int64{0, -1}},
		{"|b1", []byte{0, 1}, []int64{0, 1}},
		{"<i2", []byte{1, 0, 0xff, 0xff}, []int64{1, -1}},
		{"<u2", []byte{1, 0, 0xff, 0xff}, []int64{1, 65535}},
		{"<i4", []byte{9, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff}, []int64{9, -2}},
		{"<i8", binary.LittleEndian.AppendUint64(nil, uint64(1<<40)), []int64{1 << 40}},
		{">i4", []byte{0, 0, 1, 0}, []int64{256}},
	}
	for _, c := range cases {
		n := len(c.want)
		a, err := decode(t, npyBytes("{'descr': '"+c.descr+"', 'fortran_order': False, 'shape': ("+strings.Repeat("1", 0)+itoa(n)+",), }", c.data))
		if err != nil {
			t.Fatalf("%s: %v", c.descr, err)
		}
		got, err := a.Ints()
		if err != nil {
			t.Fatalf("%s: %v", c.descr, err)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Fatalf("%s: got %v want %v", c.descr, got, c.want)
			}
		}
	}
}

func itoa(n int) string { return string(rune('0' + n)) }

func TestDecodeErrorsNameTheField(t *testing.T) {
	good := npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", le32(1, 2))
	cases := []struct {
		name  string
		input []byte
		field string
		text  string
	}{
		{"empty", nil, "magic", "too short"},
		{"magic", append([]byte("XNUMPY"), good[6:]...), "magic", "want \\x93NUMPY"},
		{"version", append(append([]byte{}, good[:6]...), append([]byte{9, 0}, good[8:]...)...), "version", "9.0"},
		{"truncated data", good[:len(good)-1], "data", "truncated"},
		{"trailing", append(append([]byte{}, good...), 0), "data", "trailing bytes"},
		{"dtype", npyBytes("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", make([]byte, 8)), "descr", "unsupported dtype"},
		{"float128", npyBytes("{'descr': '<f16', 'fortran_order': False, 'shape': (1,), }", make([]byte, 16)), "descr", "unsupported dtype"},
		{"negative dim", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", nil), "shape", "non-negative"},
		{"huge shape", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (100000000, 100000000), }", nil), "data", "needs 40000000000000000 bytes"},
		{"missing key", npyBytes("{'descr': '<f4', 'shape': (1,), }", le32(1)), "fortran_order", "missing"},
		{"not a dict", npyBytes("[1, 2]", nil), "header", "dict"},
		{"header past end", []byte("\x93NUMPY\x01\x00\xff\x00{"), "header", "runs past the end"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decode(t, c.input)
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a FormatError", err)
			}
			if !usererr.Is(err) {
				t.Fatalf("format error not marked as the user's")
			}
			if fe.Field != c.field || !strings.Contains(err.Error(), c.text) || !strings.HasPrefix(err.Error(), "x.npy: offset ") {
				t.Fatalf("error %q: want field %q and text %q", err, c.field, c.text)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	logits := Tensor[float32]{Shape: []int{2, 3, 4}, Data: make([]float32, 24)}
	for i := range logits.Data {
		logits.Data[i] = float32(i) - 0.5
	}
	labels := Tensor[int64]{Shape: []int{3}, Data: []int64{0, 3, 1}}
	p := filepath.Join(dir, "l.npy")
	if err := WriteNPY(p, logits); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(p)
	if (len(raw)-24*4)%64 != 0 {
		t.Fatalf("data does not start at a multiple of 64: file %d bytes", len(raw))
	}
	a, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := a.Float32s()
	if a.ShapeString() != "(2, 3, 4)" || got[23] != 22.5 {
		t.Fatalf("round trip: shape %s last %v", a.ShapeString(), got[23])
	}
	z := NPZ{}
	if err := Add(z, "logits", logits); err != nil {
		t.Fatal(err)
	}
	if err := Add(z, "labels", labels); err != nil {
		t.Fatal(err)
	}
	zp := filepath.Join(dir, "pop.npz")
	if err := WriteNPZ(zp, z); err != nil {
		t.Fatal(err)
	}
	members, err := NPZMembers(zp)
	if err != nil || strings.Join(members, ",") != "labels,logits" {
		t.Fatalf("members %v %v", members, err)
	}
	if _, err := Load(zp); err == nil || !strings.Contains(err.Error(), "name one as") {
		t.Fatalf("ambiguous archive: %v", err)
	}
	a, err = Load(zp, "confidences", "logits")
	if err != nil || a.Name != zp+":logits" {
		t.Fatalf("preferred member: %v %v", a, err)
	}
	a, err = Load(zp + ":labels")
	if err != nil {
		t.Fatal(err)
	}
	ints, _ := a.Ints()
	if ints[1] != 3 {
		t.Fatalf("labels %v", ints)
	}
	if _, err := Load(zp + ":nope"); err == nil || !strings.Contains(err.Error(), `no member "nope"`) {
		t.Fatalf("missing member: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "absent.npy")); err == nil || !usererr.Is(err) {
		t.Fatalf("missing file: %v", err)
	}
	if err := WriteNPY(filepath.Join(dir, "bad.npy"), Tensor[float32]{Shape: []int{5}, Data: make([]float32, 4)}); err == nil {
		t.Fatal("shape/data mismatch accepted")
	}
}

func TestCompressedNPZ(t *testing.T) {
	// np.savez_compressed stores members with Deflate.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "conf.npy", Method: zip.Deflate})
	w.Write(npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", binary.LittleEndian.AppendUint64(nil, math.Float64bits(2.5))))
	zw.Close()
	p := filepath.Join(t.TempDir(), "c.npz")
	os.WriteFile(p, buf.Bytes(), 0o644)
	a, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := a.Float64s()
	if f[0] != 2.5 {
		t.Fatalf("got %v", f)
	}
	os.WriteFile(p, buf.Bytes()[:buf.Len()/2], 0o644)
	if _, err := Load(p); err == nil || !usererr.Is(err) {
		t.Fatalf("truncated archive: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", le32(0, 1, 2, 3, 4, 5)))
	f.Add(npyBytes("{'descr': '<i8', 'fortran_order': True, 'shape': (1, 1), }", make([]byte, 8)))
	f.Add(npyBytes("{'descr': '|u1', 'fortran_order': False, 'shape': (), }", []byte{7}))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Decode(bytes.NewReader(b), int64(len(b)), "f.npy")
		if err != nil {
			if !usererr.Is(err) {
				t.Fatalf("error not marked as the user's: %v", err)
			}
			return
		}
		if a.Len()*a.size > len(b) {
			t.Fatalf("decoded more data than the input holds")
		}
		a.Float64s()
		a.Ints()
	})
}

func FuzzNPZ(f *testing.F) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "a.npy", Method: zip.Deflate})
	w.Write(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", le32(1, 2)))
	zw.Close()
	f.Add(buf.Bytes())
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "f.npz")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p, "a")
		if err != nil && !usererr.Is(err) {
			t.Fatalf("error not marked as the user's: %v", err)
		}
	})
}

// bombNPZ writes an archive whose one member, x.npy, holds only the header
// of an array of shape (dims...) of descr, while its zip entry declares the
// full size, as a zip bomb would: reading its data would inflate it.
func bombNPZ(t *testing.T, dims string, bytes uint64) string {
	t.Helper()
	hdr := npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': "+dims+", }", nil)
	p := filepath.Join(t.TempDir(), "bomb.npz")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "x.npy", Method: zip.Store, CompressedSize64: uint64(len(hdr)), UncompressedSize64: uint64(len(hdr)) + bytes})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(hdr); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// Class 6 of issue 14: an array whose header declares more than memory
// holds, or than the caller can use, is refused from its header.
func TestHeaderRefusedBeforeInflating(t *testing.T) {
	huge := bombNPZ(t, "(65536, 67108864)", 1<<44) // 16 TiB of float32
	_, err := Load(huge)
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "declares 17592186044416 bytes") || !strings.Contains(err.Error(), "refused before reading it") {
		t.Fatalf("16 TiB member: %v", err)
	}
	small := bombNPZ(t, "(1000, 4)", 16000)
	refuse := func(name string, shape []int, descr string) error {
		return fmt.Errorf("%s: %v of %s is not wanted", name, shape, descr)
	}
	if _, err := LoadChecked(small, refuse); err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "bomb.npz:x: [1000 4] of <f4 is not wanted") {
		t.Fatalf("refusing check: %v", err)
	}
	// A check that accepts lets the read go on, which then finds the data
	// missing: the check ran on the header alone.
	accept := func(string, []int, string) error { return nil }
	if _, err := LoadChecked(small, accept); err == nil || strings.Contains(err.Error(), "not wanted") {
		t.Fatalf("accepting check: %v", err)
	}
}

// TestFloat16EveryValue converts all 65536 float16 bit patterns and compares
// the float32 bits with NumPy's astype(np.float32) of the same patterns,
// through the digest python3-numpy 1.24.2 printed for
// np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float32).
func TestFloat16EveryValue(t *testing.T) {
	b := make([]byte, 4*65536)
	for h := 0; h < 65536; h++ {
		binary.LittleEndian.PutUint32(b[4*h:], math.Float32bits(Float16(uint16(h))))
	}
	sum := sha256.Sum256(b)
	if got, want := hex.EncodeToString(sum[:]), "f4fdd084f85448d28c84f20fabf4022ba938e40b7f382d2727dec6f41ac6267a"; got != want {
		t.Fatalf("float16 -> float32 digest %s, NumPy's %s", got, want)
	}
}

// TestReadFloat16AndBFloat16 reads a float16 .npy as np.save wrote it
// ([[1.5, -0.0001, 65504]], the middle one rounded to float16) and bfloat16
// bits saved as uint16.
func TestReadFloat16AndBFloat16(t *testing.T) {
	raw, _ := hex.DecodeString("934e554d5059010076007b276465736372273a20273c6632272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028312c2033292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a003e8e86ff7b")
	a, err := decode(t, raw)
	if err != nil {
		t.Fatal(err)
	}
	f, err := a.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	if f[0] != 1.5 || f[1] != float32(Float16(0x868e)) || f[1] > -9.9e-5 || f[1] < -1.01e-4 || f[2] != 65504 {
		t.Fatalf("float16 values %v", f)
	}
	// bfloat16 of 1.0 is 0x3f80, of -2.5 0xc020.
	bf := npyBytes("{'descr': '<u2', 'fortran_order': False, 'shape': (2,), }", []byte{0x80, 0x3f, 0x20, 0xc0})
	a, err = decode(t, bf)
	if err != nil {
		t.Fatal(err)
	}
	g, err := a.BFloat16s()
	if err != nil || g[0] != 1 || g[1] != -2.5 {
		t.Fatalf("bfloat16 values %v, %v", g, err)
	}
}
