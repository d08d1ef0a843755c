package datasets

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"image"
	stddraw "image/draw"
	_ "image/jpeg" // registers the JPEG decoder with image.Decode
	_ "image/png"  // registers the PNG decoder with image.Decode
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/image/draw"

	"unlearnbench/internal/usererr"
)

// FolderOptions configures LoadFolder.
type FolderOptions struct {
	// Dir is the root: class folders (Dir/CLASS/*.png), or train/ and test/
	// each holding class folders; images may also lie directly in Dir (or
	// train/, test/) when Mapping gives their labels. Classes named by
	// non-negative integers are those class numbers; otherwise classes are
	// numbered in the sorted order of their names (as torchvision's
	// ImageFolder does), and the names are kept.
	Dir string
	// Height and Width are the size every image is resized to (bilinear).
	Height, Width int
	// Channels is 3 (RGB) or 1 (luminance); 0 means 3.
	Channels int
	// Mapping is an optional CSV file with a header row naming a "file"
	// column (the image's path relative to Dir, or its base name when that is
	// unique) and optionally "label" and "group" columns. A label column
	// overrides the class folders; a group column gives each image's group
	// (person, patient). Every image needs a row, and every row an image.
	Mapping string
}

// Limits that keep a hostile or broken image from taking the machine.
const (
	maxImageSide   = 1 << 15
	maxImagePixels = 64 << 20
)

var imageExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true}

type folderImage struct {
	rel   string // path relative to the root, with forward slashes
	part  int    // 0 train, 1 test
	class string // class folder, "" when the image lies directly in the part folder
	label string // from the mapping, when it has a label column
	group string // from the mapping, when it has a group column
}

// LoadFolder reads an image folder (see FolderOptions), decoding PNG and
// JPEG files on all cores and resizing them to Height×Width.
func LoadFolder(opt FolderOptions) (*Source, error) {
	if opt.Dir == "" {
		return nil, usererr.Errorf("folder: no folder given; point --data DIR at a folder of class sub-folders")
	}
	if opt.Channels == 0 {
		opt.Channels = 3
	}
	if opt.Channels != 1 && opt.Channels != 3 {
		return nil, usererr.Errorf("folder: %d channels; want 1 (grey) or 3 (RGB)", opt.Channels)
	}
	if opt.Height <= 0 || opt.Width <= 0 || opt.Height > maxImageSide || opt.Width > maxImageSide {
		return nil, usererr.Errorf("folder: image size %dx%d; want positive sizes up to %d", opt.Height, opt.Width, maxImageSide)
	}
	st, err := os.Stat(opt.Dir)
	if err != nil {
		return nil, usererr.Wrap(fmt.Errorf("folder: %w", err))
	}
	if !st.IsDir() {
		return nil, usererr.Errorf("folder: %s is not a directory", opt.Dir)
	}
	partDirs := []string{""}
	if isDir(filepath.Join(opt.Dir, "train")) {
		partDirs = []string{"train"}
		if isDir(filepath.Join(opt.Dir, "test")) {
			partDirs = append(partDirs, "test")
		}
	}
	var images []folderImage
	for p, pd := range partDirs {
		found, err := listPart(opt.Dir, pd, p)
		if err != nil {
			return nil, err
		}
		images = append(images, found...)
	}
	if len(images) == 0 {
		return nil, usererr.Errorf("folder: no .png, .jpg or .jpeg images in %s or its class folders", opt.Dir)
	}
	hasLabel, hasGroup := false, false
	if opt.Mapping != "" {
		if hasLabel, hasGroup, err = applyMapping(opt.Mapping, opt.Dir, images); err != nil {
			return nil, err
		}
	}

	// Classes: from the mapping's labels, else from the class folders.
	labelOf := func(im *folderImage) string { return im.class }
	if hasLabel {
		labelOf = func(im *folderImage) string { return im.label }
	} else {
		trainClasses := map[string]bool{}
		for _, im := range images {
			if im.part == 0 {
				trainClasses[im.class] = true
			}
		}
		for _, im := range images {
			if im.class == "" {
				return nil, usererr.Errorf("folder: %s lies outside any class folder and no mapping gives its label (use a CSV with a label column)", filepath.Join(opt.Dir, im.rel))
			}
			if im.part == 1 && !trainClasses[im.class] {
				return nil, usererr.Errorf("folder: class folder %s has no counterpart in %s", filepath.Join(opt.Dir, "test", im.class), filepath.Join(opt.Dir, "train"))
			}
		}
	}
	var labelStrs []string
	for i := range images {
		labelStrs = append(labelStrs, labelOf(&images[i]))
	}
	labels, classNames, classes, err := internStrings(labelStrs, "label", opt.Mapping)
	if err != nil {
		return nil, err
	}
	var groups []int64
	var groupNames []string
	if hasGroup {
		gs := make([]string, len(images))
		for i, im := range images {
			gs[i] = im.group
		}
		if groups, groupNames, _, err = internStrings(gs, "group", opt.Mapping); err != nil {
			return nil, err
		}
	}

	c, h, w := opt.Channels, opt.Height, opt.Width
	size := c * h * w
	pixels := make([]uint8, len(images)*size)
	errs := make([]error, len(images))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			var buf bytes.Buffer
			canvas := image.NewRGBA(image.Rect(0, 0, w, h))
			for i := range next {
				p := filepath.Join(opt.Dir, filepath.FromSlash(images[i].rel))
				errs[i] = decodeImageFile(p, &buf, canvas, c, pixels[i*size:(i+1)*size])
			}
		})
	}
	for i := range images {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err // the first failing image in file order
		}
	}

	src := &Source{Name: "folder"}
	for p := range partDirs {
		d := &Dataset{Name: "folder/" + cmp.Or(partDirs[p], "all"), C: c, H: h, W: w, Classes: classes, ClassNames: classNames, GroupNames: groupNames}
		if len(partDirs) == 1 {
			// One part: the decoded pixels are its data, without a copy.
			d.N, d.Labels, d.Groups, d.Pixels = len(images), labels, groups, pixels
		} else {
			for i, im := range images {
				if im.part != p {
					continue
				}
				d.N++
				d.Labels = append(d.Labels, labels[i])
				if groups != nil {
					d.Groups = append(d.Groups, groups[i])
				}
				d.Pixels = append(d.Pixels, pixels[i*size:(i+1)*size]...)
			}
		}
		if d.N == 0 {
			return nil, usererr.Errorf("folder: no images in %s", filepath.Join(opt.Dir, partDirs[p]))
		}
		if err := d.validate(); err != nil {
			return nil, err
		}
		if p == 0 {
			src.Train = d
		} else {
			src.Test = d
		}
	}
	if len(partDirs) == 1 {
		src.Train.Name = "folder/train"
	}
	return src, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// listPart lists the images of one part folder in a fixed order: loose
// images first, then class folders by name, files by name.
func listPart(root, partDir string, part int) ([]folderImage, error) {
	dir := filepath.Join(root, partDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, usererr.Wrap(fmt.Errorf("folder: %w", err))
	}
	var out []folderImage
	var classDirs []string
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, "."):
		case e.IsDir():
			classDirs = append(classDirs, name)
		case imageExts[strings.ToLower(filepath.Ext(name))]:
			out = append(out, folderImage{rel: path.Join(filepath.ToSlash(partDir), name), part: part})
		}
	}
	for _, cls := range classDirs {
		sub, err := os.ReadDir(filepath.Join(dir, cls))
		if err != nil {
			return nil, usererr.Wrap(fmt.Errorf("folder: %w", err))
		}
		n := 0
		for _, e := range sub {
			if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") && imageExts[strings.ToLower(filepath.Ext(e.Name()))] {
				out = append(out, folderImage{rel: path.Join(filepath.ToSlash(partDir), cls, e.Name()), part: part, class: cls})
				n++
			}
		}
		if n == 0 {
			return nil, usererr.Errorf("folder: class folder %s is empty (no .png, .jpg or .jpeg files)", filepath.Join(dir, cls))
		}
	}
	return out, nil
}

// applyMapping fills label and group of every image from the mapping CSV.
func applyMapping(mapping, root string, images []folderImage) (hasLabel, hasGroup bool, err error) {
	f, err := os.Open(mapping)
	if err != nil {
		return false, false, usererr.Wrap(fmt.Errorf("mapping: %w", err))
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.ReuseRecord = false
	header, err := r.Read()
	if err != nil {
		return false, false, usererr.Wrap(fmt.Errorf("%s: header: %w", mapping, err))
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	fileCol, ok := col["file"]
	if !ok {
		return false, false, usererr.Errorf("%s: header %q has no \"file\" column", mapping, header)
	}
	labelCol, hasLabel := col["label"]
	groupCol, hasGroup := col["group"]
	if !hasLabel && !hasGroup {
		return false, false, usererr.Errorf("%s: header %q has neither a \"label\" nor a \"group\" column", mapping, header)
	}
	type row struct {
		line         int
		label, group string
		used         bool
	}
	byPath := map[string]*row{}
	byBase := map[string]*row{}
	dupBase := map[string]bool{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return false, false, usererr.Wrap(fmt.Errorf("%s: %w", mapping, err))
		}
		line, _ := r.FieldPos(0)
		file := path.Clean(strings.TrimSpace(filepath.ToSlash(rec[fileCol])))
		rw := &row{line: line}
		if hasLabel {
			rw.label = strings.TrimSpace(rec[labelCol])
			if rw.label == "" {
				return false, false, usererr.Errorf("%s:%d: empty label for %s", mapping, line, file)
			}
		}
		if hasGroup {
			rw.group = strings.TrimSpace(rec[groupCol])
			if rw.group == "" {
				return false, false, usererr.Errorf("%s:%d: empty group for %s", mapping, line, file)
			}
		}
		if prev, ok := byPath[file]; ok {
			return false, false, usererr.Errorf("%s:%d: %s is listed again (first on line %d)", mapping, line, file, prev.line)
		}
		byPath[file] = rw
		base := path.Base(file)
		if _, ok := byBase[base]; ok {
			dupBase[base] = true
		}
		byBase[base] = rw
	}
	for i := range images {
		im := &images[i]
		rw, ok := byPath[im.rel]
		if !ok {
			base := path.Base(im.rel)
			if rw, ok = byBase[base]; ok && dupBase[base] {
				return false, false, usererr.Errorf("%s: several rows name %s; give %s as its path relative to %s", mapping, base, im.rel, root)
			}
		}
		if !ok {
			return false, false, usererr.Errorf("%s: no row for image %s", mapping, filepath.Join(root, im.rel))
		}
		if rw.used {
			return false, false, usererr.Errorf("%s:%d: row matches more than one image (%s and another); give paths relative to %s", mapping, rw.line, im.rel, root)
		}
		rw.used = true
		im.label, im.group = rw.label, rw.group
	}
	for file, rw := range byPath {
		if !rw.used {
			return false, false, usererr.Errorf("%s:%d: %s matches no image under %s", mapping, rw.line, file, root)
		}
	}
	return hasLabel, hasGroup, nil
}

// internStrings turns labels or group names into ids: when every value is a
// non-negative integer, the ids are the integers and names is nil (count is
// max+1); otherwise the ids number the sorted distinct values, which are the
// names.
func internStrings(vals []string, what, file string) (ids []int64, names []string, count int, err error) {
	ids = make([]int64, len(vals))
	numeric := true
	for i, v := range vals {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			numeric = false
			break
		}
		ids[i] = n
	}
	if numeric {
		m := slices.Max(ids)
		if what == "label" && m >= 1<<16 {
			return nil, nil, 0, usererr.Errorf("%s: label %d is too large for a class number (at most 65535)", file, m)
		}
		return ids, nil, int(m) + 1, nil
	}
	names = slices.Clone(vals)
	slices.Sort(names)
	names = slices.Compact(names)
	for i, v := range vals {
		j, _ := slices.BinarySearch(names, v)
		ids[i] = int64(j)
	}
	return ids, names, len(names), nil
}

func decodeImageFile(p string, buf *bytes.Buffer, canvas *image.RGBA, c int, dst []uint8) error {
	f, err := os.Open(p)
	if err != nil {
		return usererr.Wrap(fmt.Errorf("folder: %w", err))
	}
	defer f.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(f); err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	return decodeImage(buf.Bytes(), p, canvas, c, dst)
}

// decodeImage decodes a PNG or JPEG, resizes it onto canvas (bilinear, over
// black where it is transparent) and writes its c channels to dst in CHW
// order.
func decodeImage(data []byte, name string, canvas *image.RGBA, c int, dst []uint8) error {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return usererr.Errorf("%s: image does not decode: %v", name, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxImageSide || cfg.Height > maxImageSide || cfg.Width*cfg.Height > maxImagePixels {
		return usererr.Errorf("%s: %s image of %dx%d pixels; at most %d per side and %d in all", name, format, cfg.Width, cfg.Height, maxImageSide, maxImagePixels)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return usererr.Errorf("%s: %s image does not decode: %v", name, format, err)
	}
	b := canvas.Bounds()
	if img.Bounds().Dx() == b.Dx() && img.Bounds().Dy() == b.Dy() {
		stddraw.Draw(canvas, b, img, img.Bounds().Min, stddraw.Src)
	} else {
		draw.BiLinear.Scale(canvas, b, img, img.Bounds(), draw.Src, nil)
	}
	plane := b.Dx() * b.Dy()
	pix := canvas.Pix
	if c == 3 {
		for j := range plane {
			dst[j] = pix[4*j]
			dst[plane+j] = pix[4*j+1]
			dst[2*plane+j] = pix[4*j+2]
		}
		return nil
	}
	for j := range plane {
		r, g, bl := uint32(pix[4*j]), uint32(pix[4*j+1]), uint32(pix[4*j+2])
		// The ITU-R BT.601 luma weights image/color's GrayModel uses.
		dst[j] = uint8((19595*r + 38470*g + 7471*bl + 1<<15) >> 16)
	}
	return nil
}
