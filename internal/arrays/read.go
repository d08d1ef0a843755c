package arrays

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"unlearnbench/internal/usererr"
)

// maxHeaderLen bounds the header a reader accepts; NumPy itself refuses
// headers over 10,000 bytes by default.
const maxHeaderLen = 1 << 16

var magic = []byte("\x93NUMPY")

// FormatError says where a file stopped being what its format promises (a
// valid .npy array here; datasets' files through its alias): the file, the
// byte offset, the field or part being read, and what was wrong.
type FormatError struct {
	File   string // file, or file.npz:member
	Offset int64  // byte offset in the file's (or array's, or decompressed) stream
	Field  string // header field or part of the file
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s: offset %d: %s: %s", e.File, e.Offset, e.Field, e.Msg)
}

func formatErr(name string, off int64, field, format string, args ...any) error {
	return usererr.Wrap(&FormatError{File: name, Offset: off, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// A Check sees an array's name, shape and dtype from its header, before any
// of its data is read or inflated; an error refuses the array. Readers that
// know what the other inputs hold (a population of N models) refuse a
// header that declares something else without reading gigabytes first.
type Check func(name string, shape []int, descr string) error

// Load reads an array named by spec: "file.npy"; "file.npz:member"; or
// "file.npz", which takes the archive's only member, else the first of
// prefer that it holds, else fails listing the members.
func Load(spec string, prefer ...string) (*Array, error) { return LoadChecked(spec, nil, prefer...) }

// LoadChecked is Load with check (nil: none) run on the header.
func LoadChecked(spec string, check Check, prefer ...string) (*Array, error) {
	path, member := spec, ""
	if i := strings.LastIndex(spec, ".npz:"); i >= 0 {
		path, member = spec[:i+4], spec[i+5:]
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npy":
		return readFile(path, check)
	case ".npz":
		if member != "" {
			return readNPZ(path, member, check)
		}
		members, err := NPZMembers(path)
		if err != nil {
			return nil, err
		}
		if len(members) == 1 {
			return readNPZ(path, members[0], check)
		}
		for _, p := range prefer {
			if slices.Contains(members, p) {
				return readNPZ(path, p, check)
			}
		}
		want := ""
		if len(prefer) > 0 {
			want = fmt.Sprintf(" none of %q and", prefer)
		}
		return nil, usererr.Errorf("%s: archive holds%s %d members %q; name one as %s:MEMBER", path, want, len(members), members, path)
	default:
		return nil, usererr.Errorf("%s: unsupported file type %q; want .npy or .npz", path, filepath.Ext(path))
	}
}

// ReadFile reads one .npy file.
func ReadFile(path string) (*Array, error) { return readFile(path, nil) }

func readFile(path string, check Check) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usererr.Wrap(fmt.Errorf("reading %s: %w", path, err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if st.IsDir() {
		return nil, usererr.Errorf("reading %s: is a directory, want a .npy file", path)
	}
	return decodeChecked(f, st.Size(), path, check)
}

// NPZMembers lists an archive's arrays by name (without ".npy"), in archive order.
func NPZMembers(path string) ([]string, error) {
	zr, err := openZip(path)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, strings.TrimSuffix(f.Name, ".npy"))
	}
	return names, nil
}

// ReadNPZ reads one member of an .npz archive (compressed or not).
func ReadNPZ(path, member string) (*Array, error) { return readNPZ(path, member, nil) }

func readNPZ(path, member string, check Check) (*Array, error) {
	zr, err := openZip(path)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	name := path + ":" + member
	for _, f := range zr.File {
		if f.Name != member+".npy" && f.Name != member {
			continue
		}
		if f.UncompressedSize64 > math.MaxInt64 {
			return nil, formatErr(name, 0, "zip entry", "declared size %d is too large", f.UncompressedSize64)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, usererr.Wrap(fmt.Errorf("reading %s: %w", name, err))
		}
		defer rc.Close()
		a, err := decodeChecked(rc, int64(f.UncompressedSize64), name, check)
		if err != nil {
			return nil, err
		}
		// Reading to the end makes archive/zip check the CRC-32.
		if _, err := io.Copy(io.Discard, rc); err != nil {
			return nil, usererr.Wrap(fmt.Errorf("reading %s: %w", name, err))
		}
		return a, nil
	}
	members := make([]string, 0, len(zr.File))
	for _, f := range zr.File {
		members = append(members, strings.TrimSuffix(f.Name, ".npy"))
	}
	return nil, usererr.Errorf("%s: no member %q; the archive holds %q", path, member, members)
}

func openZip(path string) (*zip.ReadCloser, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
			return nil, usererr.Wrap(fmt.Errorf("reading %s: %w", path, err))
		}
		return nil, usererr.Wrap(fmt.Errorf("reading %s: not a valid .npz (zip) archive: %w", path, err))
	}
	return zr, nil
}

// Decode reads one .npy stream of exactly size bytes; name is used in errors.
// Nothing is allocated beyond what size allows, whatever the header claims,
// and nothing beyond the memory this process may use (MemoryLimit): an
// archive member that inflates to more is refused from its header.
func Decode(r io.Reader, size int64, name string) (*Array, error) {
	return decodeChecked(r, size, name, nil)
}

func decodeChecked(r io.Reader, size int64, name string, check Check) (*Array, error) {
	var pre [10]byte
	if n, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, formatErr(name, int64(n), "magic", "file is %d bytes long, too short for a .npy header", n)
	}
	if !bytes.Equal(pre[:6], magic) {
		return nil, formatErr(name, 0, "magic", "want \\x93NUMPY, found %q", pre[:6])
	}
	major, minor := pre[6], pre[7]
	var hlen int64
	off := int64(10)
	switch major {
	case 1:
		hlen = int64(pre[8]) | int64(pre[9])<<8
	case 2, 3:
		var more [2]byte
		if n, err := io.ReadFull(r, more[:]); err != nil {
			return nil, formatErr(name, 10+int64(n), "header length", "file ends inside the header length")
		}
		hlen = int64(pre[8]) | int64(pre[9])<<8 | int64(more[0])<<16 | int64(more[1])<<24
		off = 12
	default:
		return nil, formatErr(name, 6, "version", "unsupported format version %d.%d; want 1.0, 2.0 or 3.0", major, minor)
	}
	if hlen > maxHeaderLen {
		return nil, formatErr(name, 8, "header length", "%d bytes, more than the %d accepted", hlen, maxHeaderLen)
	}
	if off+hlen > size {
		return nil, formatErr(name, off, "header", "header of %d bytes runs past the end of the %d-byte file", hlen, size)
	}
	hdr := make([]byte, hlen)
	if n, err := io.ReadFull(r, hdr); err != nil {
		return nil, formatErr(name, off+int64(n), "header", "file ends inside the header")
	}
	h, err := parseHeader(string(hdr))
	if err != nil {
		var pe *headerError
		if errors.As(err, &pe) {
			return nil, formatErr(name, off+int64(pe.pos), pe.field, "%s", pe.msg)
		}
		return nil, formatErr(name, off, "header", "%v", err)
	}
	a := &Array{Name: name, Shape: h.shape, DType: h.descr}
	if a.kind, a.size, a.big, err = parseDescr(h.descr); err != nil {
		return nil, formatErr(name, off, "descr", "%v", err)
	}
	dataOff := off + hlen
	count := int64(1)
	for _, d := range h.shape {
		if d != 0 && count > math.MaxInt64/int64(d) {
			return nil, formatErr(name, off, "shape", "%s has too many elements", FormatShape(h.shape))
		}
		count *= int64(d)
	}
	if count > (math.MaxInt64-dataOff)/int64(a.size) {
		return nil, formatErr(name, off, "shape", "%s has too many elements", FormatShape(h.shape))
	}
	want := count * int64(a.size)
	if have := size - dataOff; have != want {
		what := "truncated"
		if have > want {
			what = "trailing bytes"
		}
		return nil, formatErr(name, dataOff, "data", "%s: shape %s of %s needs %d bytes, the file has %d", what, FormatShape(h.shape), h.descr, want, have)
	}
	if limit := MemoryLimit(); want > limit {
		return nil, formatErr(name, off, "shape", "%s of %s declares %d bytes (%.3g GiB), more than the %.3g GiB of memory this process may use; refused before reading it", FormatShape(h.shape), h.descr, want, float64(want)/(1<<30), float64(limit)/(1<<30))
	}
	if check != nil {
		if err := check(name, h.shape, h.descr); err != nil {
			return nil, usererr.Wrap(err)
		}
	}
	a.data = make([]byte, want)
	if n, err := io.ReadFull(r, a.data); err != nil {
		return nil, formatErr(name, dataOff+int64(n), "data", "truncated: needs %d bytes, read %d (%v)", want, n, err)
	}
	if h.fortran && len(h.shape) > 1 {
		a.data = fortranToC(a.data, h.shape, a.size)
	}
	return a, nil
}

// fortranToC reorders column-major data into row-major order.
func fortranToC(src []byte, shape []int, size int) []byte {
	dst := make([]byte, len(src))
	n := len(src) / size
	idx := make([]int, len(shape))
	// Walk the C order index; compute the Fortran offset of each element.
	for c := 0; c < n; c++ {
		f, stride := 0, 1
		for d := 0; d < len(shape); d++ {
			f += idx[d] * stride
			stride *= shape[d]
		}
		copy(dst[c*size:(c+1)*size], src[f*size:(f+1)*size])
		for d := len(shape) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return dst
}

func parseDescr(descr string) (kind byte, size int, big bool, err error) {
	if len(descr) < 2 {
		return 0, 0, false, fmt.Errorf("unsupported dtype %q", descr)
	}
	order, rest := descr[0], descr[1:]
	switch order {
	case '<', '|', '=':
	case '>':
		big = true
	default:
		order, rest = '|', descr
	}
	if len(rest) < 2 {
		return 0, 0, false, fmt.Errorf("unsupported dtype %q", descr)
	}
	kind = rest[0]
	size, convErr := strconv.Atoi(rest[1:])
	ok := convErr == nil
	switch kind {
	case 'f':
		ok = ok && (size == 2 || size == 4 || size == 8)
	case 'i', 'u':
		ok = ok && (size == 1 || size == 2 || size == 4 || size == 8)
	case 'b':
		ok = ok && size == 1
	default:
		ok = false
	}
	if !ok {
		return 0, 0, false, fmt.Errorf("unsupported dtype %q; want float16/32/64, (u)int8/16/32/64 or bool", descr)
	}
	if size == 1 {
		big = false
	}
	return kind, size, big, nil
}

type header struct {
	descr   string
	fortran bool
	shape   []int
}

type headerError struct {
	pos   int
	field string
	msg   string
}

func (e *headerError) Error() string { return e.field + ": " + e.msg }

// parseHeader reads the Python dict literal of a .npy header, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
func parseHeader(s string) (header, error) {
	p := &dictParser{s: s}
	var h header
	seen := map[string]bool{}
	p.space()
	if !p.eat('{') {
		return h, p.fail("header", "want a dict starting with '{'")
	}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, err := p.str("header key")
		if err != nil {
			return h, err
		}
		p.space()
		if !p.eat(':') {
			return h, p.fail(key, "want ':' after the key")
		}
		p.space()
		switch key {
		case "descr":
			if h.descr, err = p.str(key); err != nil {
				return h, err
			}
		case "fortran_order":
			switch {
			case strings.HasPrefix(p.s[p.i:], "True"):
				h.fortran, p.i = true, p.i+4
			case strings.HasPrefix(p.s[p.i:], "False"):
				h.fortran, p.i = false, p.i+5
			default:
				return h, p.fail(key, "want True or False")
			}
		case "shape":
			if h.shape, err = p.tuple(key); err != nil {
				return h, err
			}
		default:
			return h, p.fail(key, "unknown header key")
		}
		seen[key] = true
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if p.eat('}') {
			break
		}
		return h, p.fail(key, "want ',' or '}' after the value")
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, p.fail(k, "missing from the header")
		}
	}
	return h, nil
}

type dictParser struct {
	s string
	i int
}

func (p *dictParser) fail(field, msg string) error {
	return &headerError{pos: p.i, field: field, msg: msg}
}

func (p *dictParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\n' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *dictParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *dictParser) str(field string) (string, error) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", p.fail(field, "want a quoted string")
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", p.fail(field, "unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, nil
}

func (p *dictParser) tuple(field string) ([]int, error) {
	if !p.eat('(') {
		return nil, p.fail(field, "want a tuple of integers")
	}
	shape := []int{}
	for {
		p.space()
		if p.eat(')') {
			return shape, nil
		}
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if start == p.i {
			return nil, p.fail(field, "want a non-negative integer")
		}
		d, err := strconv.Atoi(p.s[start:p.i])
		if err != nil || d > math.MaxInt32*64 {
			return nil, p.fail(field, fmt.Sprintf("dimension %q is too large", p.s[start:p.i]))
		}
		if len(shape) == 32 {
			return nil, p.fail(field, "more than 32 dimensions")
		}
		shape = append(shape, d)
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if p.eat(')') {
			return shape, nil
		}
		return nil, p.fail(field, "want ',' or ')' in the tuple")
	}
}
