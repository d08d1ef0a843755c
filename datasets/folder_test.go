package datasets

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"path/filepath"
	"slices"
	"testing"

	"unlearnbench/internal/arrays"
)

// pngOf encodes a w×h image filled with one colour.
func pngOf(t testing.TB, w, h int, c color.Color) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestLoadFolder(t *testing.T) {
	dir := t.TempDir()
	red, blue := color.NRGBA{200, 10, 20, 255}, color.NRGBA{0, 0, 250, 255}
	writeFile(t, filepath.Join(dir, "cat", "a.png"), pngOf(t, 4, 4, red))
	writeFile(t, filepath.Join(dir, "cat", "b.PNG"), pngOf(t, 9, 5, red)) // resized
	writeFile(t, filepath.Join(dir, "cat", "notes.txt"), []byte("ignored"))
	writeFile(t, filepath.Join(dir, "cat", ".hidden.png"), []byte("ignored"))
	var jb bytes.Buffer
	gray := image.NewGray(image.Rect(0, 0, 6, 6))
	for i := range gray.Pix {
		gray.Pix[i] = 128
	}
	if err := jpeg.Encode(&jb, gray, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "dog", "c.jpg"), jb.Bytes())
	writeFile(t, filepath.Join(dir, "dog", "d.png"), pngOf(t, 4, 4, blue))

	src, err := LoadFolder(FolderOptions{Dir: dir, Height: 4, Width: 4})
	if err != nil {
		t.Fatal(err)
	}
	d := src.Train
	if src.Test != nil || d.N != 4 || d.C != 3 || d.H != 4 || d.Classes != 2 || !slices.Equal(d.ClassNames, []string{"cat", "dog"}) || !slices.Equal(d.Labels, []int64{0, 0, 1, 1}) {
		t.Fatalf("%v %v %v", src, d.ClassNames, d.Labels)
	}
	px := func(i, c int) uint8 { return d.Pixels[i*48+c*16+5] }
	if px(0, 0) != 200 || px(0, 1) != 10 || px(1, 0) != 200 || px(1, 2) != 20 || px(3, 2) != 250 {
		t.Errorf("pixels %d %d %d %d %d", px(0, 0), px(0, 1), px(1, 0), px(1, 2), px(3, 2))
	}
	if v := px(2, 1); v < 126 || v > 130 {
		t.Errorf("grey JPEG pixel %d, want about 128", v)
	}

	grey, err := LoadFolder(FolderOptions{Dir: dir, Height: 2, Width: 3, Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	// BT.601 luma of (0, 0, 250): (7471*250 + 1<<15) >> 16 = 28.
	if g := grey.Train; g.C != 1 || g.W != 3 || g.Pixels[3*6] != 28 {
		t.Errorf("grey: C=%d W=%d pixel %d", g.C, g.W, g.Pixels[3*6])
	}

	// A mapping gives groups (and here labels that override the folders).
	writeFile(t, filepath.Join(dir, "map.csv"), []byte("file,label,group\ncat/a.png,old,p1\nb.PNG,young,p2\ndog/c.jpg,old,p2\ndog/d.png,young,p3\n"))
	src, err = LoadFolder(FolderOptions{Dir: dir, Height: 4, Width: 4, Mapping: filepath.Join(dir, "map.csv")})
	if err != nil {
		t.Fatal(err)
	}
	d = src.Train
	if !slices.Equal(d.ClassNames, []string{"old", "young"}) || !slices.Equal(d.Labels, []int64{0, 1, 0, 1}) || !slices.Equal(d.Groups, []int64{0, 1, 1, 2}) || d.GroupName(2) != "p3" {
		t.Errorf("mapped: %v %v %v %v", d.ClassNames, d.Labels, d.Groups, d.GroupNames)
	}
}

func TestLoadFolderTrainTest(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"train/a/1.png", "train/a/2.png", "train/b/3.png", "test/b/4.png"} {
		writeFile(t, filepath.Join(dir, p), pngOf(t, 2, 2, color.White))
	}
	src, err := LoadFolder(FolderOptions{Dir: dir, Height: 2, Width: 2})
	if err != nil {
		t.Fatal(err)
	}
	if src.Train.N != 3 || src.Test.N != 1 || src.Test.Labels[0] != 1 || src.Test.Classes != 2 {
		t.Errorf("%v %v", src, src.Test.Labels)
	}
	writeFile(t, filepath.Join(dir, "test/c/5.png"), pngOf(t, 2, 2, color.White))
	_, err = LoadFolder(FolderOptions{Dir: dir, Height: 2, Width: 2})
	wantUserErr(t, err, filepath.Join(dir, "test", "c")+" has no counterpart")
}

func TestLoadFolderErrors(t *testing.T) {
	mk := func(files map[string][]byte) string {
		dir := t.TempDir()
		for p, b := range files {
			writeFile(t, filepath.Join(dir, p), b)
		}
		return dir
	}
	ok := pngOf(t, 2, 2, color.Black)
	for _, c := range []struct {
		name    string
		files   map[string][]byte
		mapping string
		parts   []string
	}{
		{"empty class", map[string][]byte{"a/1.png": ok, "b/readme.txt": nil}, "", []string{"class folder", "b is empty"}},
		{"no images", map[string][]byte{"readme.txt": nil}, "", []string{"no .png, .jpg or .jpeg images"}},
		{"bad image", map[string][]byte{"a/1.png": ok, "a/2.png": []byte("not a png")}, "", []string{"2.png: image does not decode"}},
		{"truncated png", map[string][]byte{"a/1.png": ok[:len(ok)-20]}, "", []string{"1.png: png image does not decode"}},
		{"loose image", map[string][]byte{"1.png": ok}, "", []string{"1.png lies outside any class folder"}},
		{"no row", map[string][]byte{"a/1.png": ok, "a/2.png": ok}, "file,group\na/1.png,x\n", []string{"no row for image", "2.png"}},
		{"extra row", map[string][]byte{"a/1.png": ok}, "file,group\na/1.png,x\na/9.png,y\n", []string{"map.csv:3: a/9.png matches no image"}},
		{"no file column", map[string][]byte{"a/1.png": ok}, "name,group\n", []string{"no \"file\" column"}},
		{"empty group", map[string][]byte{"a/1.png": ok}, "file,group\na/1.png,\n", []string{"map.csv:2: empty group"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := mk(c.files)
			opt := FolderOptions{Dir: dir, Height: 2, Width: 2}
			if c.mapping != "" {
				opt.Mapping = writeFile(t, filepath.Join(t.TempDir(), "map.csv"), []byte(c.mapping))
			}
			_, err := LoadFolder(opt)
			wantUserErr(t, err, c.parts...)
		})
	}
	// A PNG header claiming a huge image is refused before decoding.
	huge := pngOf(t, 1, 1, color.Black)
	binary.BigEndian.PutUint32(huge[16:], 20000) // IHDR width
	binary.BigEndian.PutUint32(huge[20:], 20000) // IHDR height
	binary.BigEndian.PutUint32(huge[29:], crc32.ChecksumIEEE(huge[12:29]))
	err := decodeImage(huge, "huge.png", image.NewRGBA(image.Rect(0, 0, 2, 2)), 3, make([]uint8, 12))
	wantUserErr(t, err, "huge.png: png image of 20000x20000 pixels; at most 32768 per side and 67108864 in all")
}

func TestLoadArrays(t *testing.T) {
	dir := t.TempDir()
	// NHWC uint8 images 2x5x5x3 (as PIL writes them), with groups and a test part.
	x := make([]uint8, 2*5*5*3)
	for i := range x {
		x[i] = uint8(i % 3 * 10) // channel c holds 10*c
	}
	z := arrays.NPZ{}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(arrays.Add(z, "x", arrays.Tensor[uint8]{Shape: []int{2, 5, 5, 3}, Data: x}))
	must(arrays.Add(z, "y", arrays.Tensor[int64]{Shape: []int{2}, Data: []int64{0, 3}}))
	must(arrays.Add(z, "groups", arrays.Tensor[int32]{Shape: []int{2}, Data: []int32{7, 7}}))
	must(arrays.Add(z, "x_test", arrays.Tensor[uint8]{Shape: []int{1, 5, 5, 3}, Data: x[:75]}))
	must(arrays.Add(z, "y_test", arrays.Tensor[int64]{Shape: []int{1}, Data: []int64{5}}))
	must(arrays.Add(z, "groups_test", arrays.Tensor[int32]{Shape: []int{1}, Data: []int32{8}}))
	p := filepath.Join(dir, "d.npz")
	must(arrays.WriteNPZ(p, z))
	src, err := LoadArrays(p)
	if err != nil {
		t.Fatal(err)
	}
	d := src.Train
	if d.C != 3 || d.H != 5 || d.Classes != 6 || src.Test.Classes != 6 || d.Pixels[25] != 10 || d.Pixels[74] != 20 || !slices.Equal(d.Groups, []int64{7, 7}) {
		t.Errorf("%v %v %v", src, d.Pixels[:30], d.Groups)
	}

	// A folder of .npy files with float tabular data.
	must(arrays.WriteNPY(filepath.Join(dir, "tab", "x.npy"), arrays.Tensor[float32]{Shape: []int{3, 2}, Data: []float32{1, 2, 3, 4, 5, 6}}))
	must(arrays.WriteNPY(filepath.Join(dir, "tab", "y.npy"), arrays.Tensor[uint8]{Shape: []int{3}, Data: []uint8{1, 0, 1}}))
	src, err = LoadArrays(filepath.Join(dir, "tab"))
	if err != nil {
		t.Fatal(err)
	}
	if d := src.Train; d.C != 2 || d.H != 1 || d.Values[3] != 4 || src.Test != nil {
		t.Errorf("tabular: %v", src)
	}

	must(arrays.WriteNPY(filepath.Join(dir, "tab", "y.npy"), arrays.Tensor[int64]{Shape: []int{2}, Data: []int64{1, 0}}))
	_, err = LoadArrays(filepath.Join(dir, "tab"))
	wantUserErr(t, err, "y.npy: shape (2,); want (3,)")
	must(arrays.WriteNPY(filepath.Join(dir, "tab", "y.npy"), arrays.Tensor[int64]{Shape: []int{3}, Data: []int64{1, -1, 0}}))
	_, err = LoadArrays(filepath.Join(dir, "tab"))
	wantUserErr(t, err, "y.npy: element 1 = -1")
	must(arrays.WriteNPY(filepath.Join(dir, "tab", "x.npy"), arrays.Tensor[int32]{Shape: []int{3, 2}, Data: []int32{1, 2, 3, 4, 5, 6}}))
	_, err = LoadArrays(filepath.Join(dir, "tab"))
	wantUserErr(t, err, "x.npy: dtype <i4 (int32); want uint8")
}

func TestLoadCSV(t *testing.T) {
	p := writeFile(t, filepath.Join(t.TempDir(), "t.csv"), []byte("f1,kind,person,f2\n1.5,b,10,2\n-1,a,11,0\n0,b,10,1e3\n"))
	src, err := LoadCSV(CSVOptions{Path: p, LabelColumn: "kind", GroupColumn: "person"})
	if err != nil {
		t.Fatal(err)
	}
	d := src.Train
	if d.N != 3 || d.C != 2 || d.Classes != 2 || !slices.Equal(d.Labels, []int64{1, 0, 1}) || !slices.Equal(d.Groups, []int64{10, 11, 10}) || !slices.Equal(d.Values, []float32{1.5, 2, -1, 0, 0, 1000}) {
		t.Errorf("%v %v %v %v", d.Labels, d.Groups, d.Values, d.ClassNames)
	}
	_, err = LoadCSV(CSVOptions{Path: p})
	wantUserErr(t, err, "no label column \"label\"")
	p = writeFile(t, filepath.Join(t.TempDir(), "t.csv"), []byte("f1,label\n1,0\nx,1\n"))
	_, err = LoadCSV(CSVOptions{Path: p})
	wantUserErr(t, err, "t.csv:3:1: column \"f1\": \"x\" is not a finite number")
	p = writeFile(t, filepath.Join(t.TempDir(), "t.csv"), []byte("f1,label\n1,0\n2\n"))
	_, err = LoadCSV(CSVOptions{Path: p})
	wantUserErr(t, err, "t.csv", "wrong number of fields")
}
