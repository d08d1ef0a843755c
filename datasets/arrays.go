package datasets

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"unlearnbench/internal/arrays"
	"unlearnbench/internal/usererr"
)

// LoadArrays reads a data set kept as NumPy arrays: path is an .npz archive
// or a folder of .npy files, holding
//
//	x       [n, ...] uint8 (read as value/255) or float32/float64 (used as is)
//	y       [n] integer labels from 0
//	groups  [n] integer group ids (optional)
//
// and optionally x_test, y_test and groups_test for a test part. x of shape
// [n, f] is tabular (f channels of 1x1), [n, h, w] is one-channel images,
// [n, c, h, w] is NCHW; [n, h, w, c] with c <= 4 < h is taken as NHWC (the
// layout PIL and TensorFlow write) and transposed.
func LoadArrays(path string) (*Source, error) {
	if path == "" {
		return nil, usererr.Errorf("npz: no file given; point --data at an .npz file or a folder of x.npy, y.npy")
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, usererr.Wrap(fmt.Errorf("npz: %w", err))
	}
	var members []string
	spec := func(m string) string { return path + ":" + m }
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, usererr.Wrap(fmt.Errorf("npz: %w", err))
		}
		for _, e := range entries {
			if n, ok := strings.CutSuffix(e.Name(), ".npy"); ok {
				members = append(members, n)
			}
		}
		spec = func(m string) string { return filepath.Join(path, m+".npy") }
	} else {
		if members, err = arrays.NPZMembers(path); err != nil {
			return nil, err
		}
	}
	part := func(suffix string, label string) (*Dataset, error) {
		x, y, g := "x"+suffix, "y"+suffix, "groups"+suffix
		if !slices.Contains(members, x) || !slices.Contains(members, y) {
			return nil, usererr.Errorf("%s: want arrays %q and %q; found %q", path, x, y, members)
		}
		var gspec string
		if slices.Contains(members, g) {
			gspec = spec(g)
		}
		return arraysDataset("npz/"+label, spec(x), spec(y), gspec)
	}
	train, err := part("", "train")
	if err != nil {
		return nil, err
	}
	src := &Source{Name: "npz", Train: train}
	if slices.Contains(members, "x_test") || slices.Contains(members, "y_test") {
		if src.Test, err = part("_test", "test"); err != nil {
			return nil, err
		}
		if src.Test.Size() != train.Size() || src.Test.C != train.C {
			return nil, usererr.Errorf("%s: x_test examples are %dx%dx%d, x examples %dx%dx%d", path, src.Test.C, src.Test.H, src.Test.W, train.C, train.H, train.W)
		}
		if (src.Test.Pixels == nil) != (train.Pixels == nil) {
			return nil, usererr.Errorf("%s: x and x_test must both be uint8 or both float", path)
		}
		if (src.Test.Groups == nil) != (train.Groups == nil) {
			return nil, usererr.Errorf("%s: groups and groups_test must both be given or both left out", path)
		}
		k := max(train.Classes, src.Test.Classes)
		train.Classes, src.Test.Classes = k, k
	}
	return src, nil
}

func arraysDataset(name, xs, ys, gs string) (*Dataset, error) {
	xa, err := arrays.Load(xs)
	if err != nil {
		return nil, err
	}
	ya, err := arrays.Load(ys)
	if err != nil {
		return nil, err
	}
	if len(xa.Shape) < 2 || len(xa.Shape) > 4 {
		return nil, usererr.Errorf("%s: shape %s; want [n, features], [n, h, w], [n, c, h, w] or [n, h, w, c]", xs, xa.ShapeString())
	}
	n := xa.Shape[0]
	d := &Dataset{Name: name, N: n, C: 1, H: 1, W: 1}
	nhwc := false
	switch s := xa.Shape; len(s) {
	case 2:
		d.C = s[1]
	case 3:
		d.H, d.W = s[1], s[2]
	case 4:
		if s[3] <= 4 && s[1] > 4 {
			nhwc = true
			d.C, d.H, d.W = s[3], s[1], s[2]
		} else {
			d.C, d.H, d.W = s[1], s[2], s[3]
		}
	}
	if d.C == 0 || d.H == 0 || d.W == 0 {
		return nil, usererr.Errorf("%s: shape %s has an empty dimension", xs, xa.ShapeString())
	}
	switch {
	case xa.IsFloat():
		if d.Values, err = xa.Float32s(); err != nil {
			return nil, err
		}
	case xa.DType == "|u1" || xa.DType == "<u1" || xa.DType == ">u1":
		if d.Pixels, err = xa.Uint8s(); err != nil {
			return nil, err
		}
	default:
		return nil, usererr.Errorf("%s: dtype %s (%s); want uint8 (pixels) or float32/float64", xs, xa.DType, xa.Kind())
	}
	if nhwc {
		if d.Pixels != nil {
			d.Pixels = nhwcToNCHW(d.Pixels, n, d.H, d.W, d.C)
		} else {
			d.Values = nhwcToNCHW(d.Values, n, d.H, d.W, d.C)
		}
	}
	if len(ya.Shape) != 1 || ya.Shape[0] != n {
		return nil, usererr.Errorf("%s: shape %s; want (%d,), one label per example of %s", ys, ya.ShapeString(), n, xs)
	}
	if d.Labels, err = ya.Ints(); err != nil {
		return nil, err
	}
	for i, y := range d.Labels {
		if y < 0 || y >= 1<<16 {
			return nil, usererr.Errorf("%s: element %d = %d; labels must lie in [0, 65536)", ys, i, y)
		}
		d.Classes = max(d.Classes, int(y)+1)
	}
	if n == 0 {
		return nil, usererr.Errorf("%s: no examples", xs)
	}
	if gs != "" {
		ga, err := arrays.Load(gs)
		if err != nil {
			return nil, err
		}
		if len(ga.Shape) != 1 || ga.Shape[0] != n {
			return nil, usererr.Errorf("%s: shape %s; want (%d,), one group id per example of %s", gs, ga.ShapeString(), n, xs)
		}
		if d.Groups, err = ga.Ints(); err != nil {
			return nil, err
		}
	}
	return d, d.validate()
}

func nhwcToNCHW[T any](src []T, n, h, w, c int) []T {
	dst := make([]T, len(src))
	plane := h * w
	for i := range n {
		s, d := src[i*plane*c:(i+1)*plane*c], dst[i*plane*c:(i+1)*plane*c]
		for p := range plane {
			for ch := range c {
				d[ch*plane+p] = s[p*c+ch]
			}
		}
	}
	return dst
}
