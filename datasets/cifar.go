package datasets

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"unlearnbench/internal/usererr"
)

// CIFAR's binary version (https://www.cs.toronto.edu/~kriz/cifar.html) is a
// sequence of fixed-size records: label byte(s), then 32x32 pixels as 1024
// red, 1024 green, 1024 blue bytes (already CHW). Read by hand: there is no
// Go reader for it, and it is a loop.

const cifarPixels = 3 * 32 * 32

// CIFARFormat says how to read one kind of CIFAR batch file.
type CIFARFormat struct {
	Name       string // "cifar10", "cifar100", "cifar100-coarse"
	LabelBytes int    // bytes before the pixels: 1 for CIFAR-10, 2 for CIFAR-100
	LabelAt    int    // which of them is the label: CIFAR-100 has coarse (0) then fine (1)
	Classes    int
}

var (
	CIFAR10        = CIFARFormat{Name: "cifar10", LabelBytes: 1, LabelAt: 0, Classes: 10}
	CIFAR100       = CIFARFormat{Name: "cifar100", LabelBytes: 2, LabelAt: 1, Classes: 100}
	CIFAR100Coarse = CIFARFormat{Name: "cifar100-coarse", LabelBytes: 2, LabelAt: 0, Classes: 20}
)

func (f CIFARFormat) record() int { return f.LabelBytes + cifarPixels }

// ReadCIFARBatch reads one batch file of size bytes from r: its labels and
// its pixels (N*3*32*32, CHW per image). name is used in errors.
func ReadCIFARBatch(r io.Reader, size int64, name string, f CIFARFormat) (labels []int64, pixels []uint8, err error) {
	rec := int64(f.record())
	if size == 0 {
		return nil, nil, formatErr(name, 0, "record 0", "empty file; want records of %d bytes", rec)
	}
	if size%rec != 0 {
		last := size / rec
		return nil, nil, formatErr(name, last*rec, fmt.Sprintf("record %d", last), "file size %d is not a multiple of the %d-byte %s record: the last record is cut short (truncated?)", size, rec, f.Name)
	}
	n := int(size / rec)
	labels = make([]int64, n)
	pixels = make([]uint8, n*cifarPixels)
	var head [2]byte
	for i := range n {
		off := int64(i) * rec
		if k, err := io.ReadFull(r, head[:f.LabelBytes]); err != nil {
			return nil, nil, readErr(name, off+int64(k), fmt.Sprintf("record %d label", i), fmt.Sprintf("%d records", n), err)
		}
		y := head[f.LabelAt]
		if int(y) >= f.Classes {
			return nil, nil, formatErr(name, off+int64(f.LabelAt), fmt.Sprintf("record %d label", i), "%d is outside the %d classes [0, %d)", y, f.Classes, f.Classes)
		}
		labels[i] = int64(y)
		if k, err := io.ReadFull(r, pixels[i*cifarPixels:(i+1)*cifarPixels]); err != nil {
			return nil, nil, readErr(name, off+int64(f.LabelBytes+k), fmt.Sprintf("record %d pixels", i), fmt.Sprintf("%d records", n), err)
		}
	}
	return labels, pixels, nil
}

// LoadCIFAR reads CIFAR-10 or CIFAR-100 (binary version) from dir: the
// folder holding the .bin files, or the folder above it as the archives
// unpack (cifar-10-batches-bin, cifar-100-binary).
func LoadCIFAR(dir string, f CIFARFormat) (*Source, error) {
	if dir == "" {
		return nil, usererr.Errorf("%s: no folder given; point --data DIR at the unpacked binary version (cifar-10-batches-bin or cifar-100-binary)", f.Name)
	}
	var trainFiles []string
	var testFile, namesFile, sub string
	if f.LabelBytes == 1 {
		sub = "cifar-10-batches-bin"
		for i := 1; i <= 5; i++ {
			trainFiles = append(trainFiles, fmt.Sprintf("data_batch_%d.bin", i))
		}
		testFile, namesFile = "test_batch.bin", "batches.meta.txt"
	} else {
		sub = "cifar-100-binary"
		trainFiles, testFile = []string{"train.bin"}, "test.bin"
		namesFile = "fine_label_names.txt"
		if f.LabelAt == 0 {
			namesFile = "coarse_label_names.txt"
		}
	}
	if _, err := os.Stat(filepath.Join(dir, testFile)); err != nil {
		if _, err2 := os.Stat(filepath.Join(dir, sub, testFile)); err2 == nil {
			dir = filepath.Join(dir, sub)
		}
	}
	all := append(append([]string{}, trainFiles...), testFile)
	type result struct {
		labels []int64
		pixels []uint8
		err    error
	}
	res := make([]result, len(all))
	var wg sync.WaitGroup
	for i, name := range all {
		wg.Go(func() {
			res[i].labels, res[i].pixels, res[i].err = readCIFARFile(filepath.Join(dir, name), f)
		})
	}
	wg.Wait()
	errs := make([]error, len(res))
	for i := range res {
		errs[i] = res[i].err
	}
	if err := firstErr(errs); err != nil {
		return nil, err
	}
	names, err := readClassNames(filepath.Join(dir, namesFile), f.Classes)
	if err != nil {
		return nil, err
	}
	mk := func(part string, rs []result) (*Dataset, error) {
		d := &Dataset{Name: f.Name + "/" + part, C: 3, H: 32, W: 32, Classes: f.Classes, ClassNames: names}
		for _, r := range rs {
			d.N += len(r.labels)
		}
		d.Labels = make([]int64, 0, d.N)
		if len(rs) == 1 {
			d.Labels, d.Pixels = rs[0].labels, rs[0].pixels
		} else {
			d.Pixels = make([]uint8, 0, d.N*cifarPixels)
			for _, r := range rs {
				d.Labels = append(d.Labels, r.labels...)
				d.Pixels = append(d.Pixels, r.pixels...)
			}
		}
		return d, d.validate()
	}
	train, err := mk("train", res[:len(trainFiles)])
	if err != nil {
		return nil, err
	}
	test, err := mk("test", res[len(trainFiles):])
	if err != nil {
		return nil, err
	}
	return &Source{Name: f.Name, Train: train, Test: test}, nil
}

func readCIFARFile(path string, f CIFARFormat) ([]int64, []uint8, error) {
	fh, size, err := openData(path, "a CIFAR batch file")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = usererr.Wrap(fmt.Errorf("%s: %w; point --data DIR at the unpacked binary version of the data", f.Name, err))
		}
		return nil, nil, err
	}
	defer fh.Close()
	return ReadCIFARBatch(bufio.NewReaderSize(fh, 1<<20), size, path, f)
}

// readClassNames reads one name per line (blank lines ignored); a missing
// file gives nil names, a file with the wrong count is an error.
func readClassNames(path string, classes int) ([]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, usererr.Wrap(fmt.Errorf("reading %s: %w", path, err))
	}
	var names []string
	for line := range strings.Lines(string(data)) {
		if s := strings.TrimSpace(line); s != "" {
			names = append(names, s)
		}
	}
	if len(names) != classes {
		return nil, usererr.Errorf("%s: %d class names, want %d", path, len(names), classes)
	}
	return names, nil
}
