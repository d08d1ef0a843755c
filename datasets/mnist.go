package datasets

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"unlearnbench/internal/usererr"
)

// FashionMNISTDir is where Debian's package dataset-fashion-mnist installs
// the four gzipped IDX files; it is the default folder for "fashion-mnist".
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// FashionMNISTInstall is the command that installs the default data.
const FashionMNISTInstall = "apt-get install dataset-fashion-mnist"

// FashionMNISTClasses are Fashion-MNIST's class names, in label order.
var FashionMNISTClasses = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

// idxParts names the four files of an MNIST-style folder by the stems of
// their standard names; each may end in .gz, and some mirrors write the
// ".idx3" with a dot instead of a dash.
var idxParts = [4][2]string{
	{"train-images-idx3-ubyte", "train-images.idx3-ubyte"},
	{"train-labels-idx1-ubyte", "train-labels.idx1-ubyte"},
	{"t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"},
	{"t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"},
}

// LoadFashionMNIST reads Fashion-MNIST from dir, or from FashionMNISTDir when
// dir is empty. When the files are missing the error says how to install them.
func LoadFashionMNIST(dir string) (*Source, error) {
	if dir == "" {
		dir = FashionMNISTDir
	}
	hint := fmt.Sprintf("install the data with `%s` (as root; `make setup` does it), or point --data DIR at a folder that holds them", FashionMNISTInstall)
	return loadIDXFolder("fashion-mnist", dir, FashionMNISTClasses, hint)
}

// LoadMNIST reads MNIST (digits 0 to 9) from dir, which must hold the four
// standard IDX files, gzipped or not.
func LoadMNIST(dir string) (*Source, error) {
	if dir == "" {
		return nil, usererr.Errorf("mnist: no folder given; point --data DIR at a folder holding train-images-idx3-ubyte[.gz] and the other three IDX files")
	}
	return loadIDXFolder("mnist", dir, nil, "point --data DIR at a folder that holds them")
}

// loadIDXFolder reads the four IDX files of an MNIST-style folder, in
// parallel (gunzipping the training images is most of the time).
func loadIDXFolder(name, dir string, classNames []string, hint string) (*Source, error) {
	var paths [4]string
	for i, stems := range idxParts {
		p, err := findFile(dir, stems[:]...)
		if err != nil {
			return nil, usererr.Errorf("%s: %s[.gz] not found in %s; %s", name, stems[0], dir, hint)
		}
		paths[i] = p
	}
	var files [4]*IDX
	var errs [4]error
	var wg sync.WaitGroup
	for i := range paths {
		wg.Go(func() { files[i], errs[i] = ReadIDXFile(paths[i]) })
	}
	wg.Wait()
	if err := firstErr(errs[:]); err != nil {
		return nil, err
	}
	train, err := idxDataset(name+"/train", paths[0], paths[1], files[0], files[1], classNames)
	if err != nil {
		return nil, err
	}
	test, err := idxDataset(name+"/test", paths[2], paths[3], files[2], files[3], classNames)
	if err != nil {
		return nil, err
	}
	if train.H != test.H || train.W != test.W {
		return nil, usererr.Errorf("%s: training images are %dx%d but test images are %dx%d (%s, %s)", name, train.H, train.W, test.H, test.W, paths[0], paths[2])
	}
	return &Source{Name: name, Train: train, Test: test}, nil
}

func idxDataset(name, imgPath, lblPath string, img, lbl *IDX, classNames []string) (*Dataset, error) {
	if len(img.Dims) != 3 {
		return nil, formatErr(imgPath, 3, "dimensions", "%d; an image file has 3 (count, height, width)", len(img.Dims))
	}
	if len(lbl.Dims) != 1 {
		return nil, formatErr(lblPath, 3, "dimensions", "%d; a label file has 1 (count)", len(lbl.Dims))
	}
	n, h, w := img.Dims[0], img.Dims[1], img.Dims[2]
	if lbl.Dims[0] != n {
		return nil, formatErr(lblPath, 4, "size 0", "%d labels for the %d images of %s", lbl.Dims[0], n, imgPath)
	}
	if h == 0 || w == 0 {
		return nil, formatErr(imgPath, 8, "sizes", "images of %dx%d pixels", h, w)
	}
	classes := 10
	if classNames != nil {
		classes = len(classNames)
	}
	labels := make([]int64, n)
	for i, y := range lbl.Data {
		if int(y) >= classes {
			return nil, formatErr(lblPath, int64(8+i), fmt.Sprintf("label %d", i), "%d is outside the %d classes [0, %d)", y, classes, classes)
		}
		labels[i] = int64(y)
	}
	d := &Dataset{Name: name, N: n, C: 1, H: h, W: w, Classes: classes, ClassNames: classNames, Labels: labels, Pixels: img.Data}
	return d, d.validate()
}

// findFile returns the first of dir/stem and dir/stem.gz that exists, for
// each stem in turn.
func findFile(dir string, stems ...string) (string, error) {
	for _, s := range stems {
		for _, suffix := range []string{"", ".gz"} {
			p := filepath.Join(dir, s+suffix)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p, nil
			}
		}
	}
	return "", os.ErrNotExist
}

// firstErr returns the first non-nil error, so that a failure among files
// read in parallel is reported as one line, the same one every run.
func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
