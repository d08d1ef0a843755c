package datasets

import (
	"bytes"
	"image"
	"image/color"
	"strings"
	"testing"

	"unlearnbench/internal/usererr"
)

// checkReadErr holds every reader's promise on bad input: an error, not a
// panic, marked as the user's, on one line.
func checkReadErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if !usererr.Is(err) {
		t.Fatalf("error not marked as the user's: %v", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error spans lines: %q", err)
	}
}

func checkIDX(t *testing.T, idx *IDX, err error) {
	checkReadErr(t, err)
	if err != nil {
		return
	}
	n := 1
	for _, d := range idx.Dims {
		n *= d
	}
	if len(idx.Data) != n {
		t.Fatalf("dims %v but %d bytes", idx.Dims, len(idx.Data))
	}
}

func idxSeeds(f *testing.F) {
	f.Add(idxBytes([]int{3}, []byte{1, 2, 3}))
	f.Add(idxBytes([]int{2, 2, 2}, []byte{1, 2, 3, 4, 5, 6, 7, 8}))
	f.Add(idxBytes([]int{0, 28, 28}, nil))
	f.Add([]byte{0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0})
	f.Add(idxBytes([]int{1 << 20, 1 << 20}, []byte{1}))
}

// FuzzReadIDX feeds raw bytes (which may happen to be gzip) to the reader.
func FuzzReadIDX(f *testing.F) {
	idxSeeds(f)
	f.Add(gz(idxBytes([]int{2}, []byte{9, 9})))
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := ReadIDX(bytes.NewReader(b), "fuzz")
		checkIDX(t, idx, err)
	})
}

// FuzzReadIDXGzip gzips the input first, so that the fuzzer explores the
// IDX decoder behind the gzip path.
func FuzzReadIDXGzip(f *testing.F) {
	idxSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := ReadIDX(bytes.NewReader(gz(b)), "fuzz.gz")
		checkIDX(t, idx, err)
		raw, rawErr := ReadIDX(bytes.NewReader(b), "fuzz")
		if (err == nil) != (rawErr == nil) || (err == nil && !bytes.Equal(idx.Data, raw.Data)) {
			// Raw input starting with the gzip magic is read as gzip; skip it.
			if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
				t.Fatalf("gzip and raw disagree: %v / %v", err, rawErr)
			}
		}
	})
}

// FuzzReadCIFAR reads the input as a CIFAR-10, CIFAR-100 or CIFAR-100
// coarse batch, chosen by the first byte.
func FuzzReadCIFAR(f *testing.F) {
	f.Add(byte(0), cifarRecords(CIFAR10, 2, func(i int) []byte { return []byte{byte(i)} }))
	f.Add(byte(1), cifarRecords(CIFAR100, 1, func(i int) []byte { return []byte{3, 99} }))
	f.Add(byte(2), cifarRecords(CIFAR100, 1, func(i int) []byte { return []byte{20, 1} }))
	f.Add(byte(0), []byte{10})
	f.Fuzz(func(t *testing.T, kind byte, b []byte) {
		format := []CIFARFormat{CIFAR10, CIFAR100, CIFAR100Coarse}[int(kind)%3]
		labels, pixels, err := ReadCIFARBatch(bytes.NewReader(b), int64(len(b)), "fuzz.bin", format)
		checkReadErr(t, err)
		if err != nil {
			return
		}
		if len(pixels) != len(labels)*cifarPixels || len(labels)*format.record() != len(b) {
			t.Fatalf("%d labels, %d pixels from %d bytes", len(labels), len(pixels), len(b))
		}
		for _, y := range labels {
			if y < 0 || y >= int64(format.Classes) {
				t.Fatalf("label %d", y)
			}
		}
	})
}

// FuzzDecodeImage exercises the image path of the folder reader: the size
// limits in front of image/png and image/jpeg, the resize and the channel
// split.
func FuzzDecodeImage(f *testing.F) {
	f.Add(pngOf(f, 3, 2, color.NRGBA{1, 2, 3, 255}), uint8(1))
	f.Add(pngOf(f, 1, 1, color.Black), uint8(3))
	f.Add([]byte("\xff\xd8\xff\xdb"), uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, c uint8) {
		ch := 1 + 2*int(c%2)
		canvas := image.NewRGBA(image.Rect(0, 0, 3, 2))
		err := decodeImage(b, "fuzz.png", canvas, ch, make([]uint8, ch*6))
		checkReadErr(t, err)
	})
}

// FuzzReadCSV checks the table reader on arbitrary text.
func FuzzReadCSV(f *testing.F) {
	f.Add("a,label,g\n1,x,p\n2,y,q\n")
	f.Add("label,b\n0,1e400\n")
	f.Add("label\n1\n")
	f.Add("a,label\n\"1,2\n")
	f.Fuzz(func(t *testing.T, s string) {
		src, err := readCSV(strings.NewReader(s), CSVOptions{Path: "fuzz.csv", LabelColumn: "label", GroupColumn: "g"})
		checkReadErr(t, err)
		if err == nil {
			if err := src.Train.validate(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
