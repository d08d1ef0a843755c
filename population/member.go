package population

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"unlearnbench/internal/arrays"
)

// Member is one model of a population, as its member file keeps it: the
// model's logits on the split's forget, retain and test sets (float32,
// row-major [E, C], [R, C], [T, C]), its accuracies there, the seed it was
// made from and the wall time its making took.
type Member struct {
	Index int
	Seed  uint64 // below 2^63, so NumPy reads it as a non-negative int64
	// Seconds is the wall time of producing the model (unlearning or
	// retraining), without computing the logits.
	Seconds              float64
	C                    int
	Forget, Retain, Test []float32
	ForgetAcc, RetainAcc float64
	TestAcc              float64
	// Population is the digest of the key of the population the member
	// was written for (Key.Digest, set by Dir.Write), so that a member
	// file copied into another population's directory is told apart; ""
	// in files of earlier versions, which did not record it.
	Population string
}

// E, R and T are the numbers of forget, retain and test examples.
func (m *Member) E() int { return rows(m.Forget, m.C) }
func (m *Member) R() int { return rows(m.Retain, m.C) }
func (m *Member) T() int { return rows(m.Test, m.C) }

func rows(v []float32, c int) int {
	if c == 0 {
		return 0
	}
	return len(v) / c
}

// The member file's arrays. "sha256" is the checksum: SHA-256 over every
// other member's name and .npy bytes, in name order.
const checksumMember = "sha256"

// populationMember holds Member.Population, as the digest's 32 bytes.
const populationMember = "population"

// memberArrays encodes m's arrays as .npy streams, by member name.
func memberArrays(m *Member) (map[string][]byte, error) {
	if m.C < 1 {
		return nil, fmt.Errorf("member %d: %d classes", m.Index, m.C)
	}
	if m.Seed >= 1<<63 {
		return nil, fmt.Errorf("member %d: seed %d does not fit in int64", m.Index, m.Seed)
	}
	out := map[string][]byte{}
	var err error
	enc := func(name string, f func(w io.Writer) error) {
		if err != nil {
			return
		}
		var b bytes.Buffer
		if e := f(&b); e != nil {
			err = fmt.Errorf("member %d: %s: %w", m.Index, name, e)
			return
		}
		out[name] = b.Bytes()
	}
	logits := func(name string, v []float32) {
		if len(v)%m.C != 0 {
			err = fmt.Errorf("member %d: %s: %d values for %d classes", m.Index, name, len(v), m.C)
			return
		}
		enc(name, func(w io.Writer) error {
			return arrays.Encode(w, arrays.Tensor[float32]{Shape: []int{len(v) / m.C, m.C}, Data: v})
		})
	}
	scalar := func(name string, v float64) {
		enc(name, func(w io.Writer) error {
			return arrays.Encode(w, arrays.Tensor[float64]{Shape: []int{}, Data: []float64{v}})
		})
	}
	integer := func(name string, v int64) {
		enc(name, func(w io.Writer) error {
			return arrays.Encode(w, arrays.Tensor[int64]{Shape: []int{}, Data: []int64{v}})
		})
	}
	logits("forget", m.Forget)
	logits("retain", m.Retain)
	logits("test", m.Test)
	scalar("forget_acc", m.ForgetAcc)
	scalar("retain_acc", m.RetainAcc)
	scalar("test_acc", m.TestAcc)
	scalar("seconds", m.Seconds)
	integer("seed", int64(m.Seed))
	integer("index", int64(m.Index))
	if m.Population != "" {
		d, e := hex.DecodeString(m.Population)
		if e != nil || len(d) != sha256.Size {
			return nil, fmt.Errorf("member %d: population digest %q", m.Index, m.Population)
		}
		enc(populationMember, func(w io.Writer) error {
			return arrays.Encode(w, arrays.Tensor[uint8]{Shape: []int{len(d)}, Data: d})
		})
	}
	return out, err
}

func checksum(arr map[string][]byte) []byte {
	names := make([]string, 0, len(arr))
	for k := range arr {
		if k != checksumMember {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	h := sha256.New()
	var n [8]byte
	for _, k := range names {
		h.Write([]byte(k))
		binary.LittleEndian.PutUint64(n[:], uint64(len(arr[k])))
		h.Write(n[:])
		h.Write(arr[k])
	}
	return h.Sum(nil)
}

// WriteMember writes m to path atomically (a crash leaves the old file or
// none, never a part): an uncompressed .npz that numpy.load reads, members
// in name order, so the same member always gives the same bytes.
func WriteMember(path string, m *Member) error {
	arr, err := memberArrays(m)
	if err != nil {
		return err
	}
	var cb bytes.Buffer
	if err := arrays.Encode(&cb, arrays.Tensor[uint8]{Shape: []int{sha256.Size}, Data: checksum(arr)}); err != nil {
		return err
	}
	arr[checksumMember] = cb.Bytes()
	z := arrays.NPZ{}
	for name, b := range arr {
		z[name] = func(w io.Writer) error {
			_, err := w.Write(b)
			return err
		}
	}
	return arrays.WriteNPZ(path, z)
}

// ErrDamaged marks a member file that is truncated, not an archive, lacks
// an array or fails its checksum: it must be recomputed, never scored.
var ErrDamaged = errors.New("damaged member file")

type damagedError struct {
	path string
	err  error
}

func (e *damagedError) Error() string   { return fmt.Sprintf("%s: %v", e.path, e.err) }
func (e *damagedError) Unwrap() []error { return []error{ErrDamaged, e.err} }

func damaged(path string, format string, args ...any) error {
	return &damagedError{path: path, err: fmt.Errorf(format, args...)}
}

// ReadMember reads and verifies a member file: every array present with
// consistent shapes, zip CRCs and the SHA-256 checksum right. A file that
// fails any of these is reported as ErrDamaged.
func ReadMember(path string) (*Member, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, damaged(path, "not a complete .npz archive: %v", err)
	}
	defer zr.Close()
	arr := map[string][]byte{}
	for _, f := range zr.File {
		if f.UncompressedSize64 > 1<<40 {
			return nil, damaged(path, "%s: declared size %d", f.Name, f.UncompressedSize64)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, damaged(path, "%s: %v", f.Name, err)
		}
		b, err := io.ReadAll(rc) // reading to the end checks the CRC-32
		rc.Close()
		if err != nil {
			return nil, damaged(path, "%s: %v", f.Name, err)
		}
		name := f.Name
		if len(name) > 4 && name[len(name)-4:] == ".npy" {
			name = name[:len(name)-4]
		}
		arr[name] = b
	}
	want, ok := arr[checksumMember]
	if !ok {
		return nil, damaged(path, "no %s checksum", checksumMember)
	}
	sum, err := decodeArray(path, checksumMember, want)
	if err != nil {
		return nil, err
	}
	got, err := sum.Uint8s()
	if err != nil || !bytes.Equal(got, checksum(arr)) {
		return nil, damaged(path, "checksum mismatch: the file was changed after it was written")
	}
	m := &Member{}
	logits := func(name string) ([]float32, error) {
		a, err := need(path, arr, name)
		if err != nil {
			return nil, err
		}
		if len(a.Shape) != 2 || a.Kind() != "float32" {
			return nil, damaged(path, "%s: %s %s, want float32 [rows, classes]", name, a.Kind(), a.ShapeString())
		}
		if m.C == 0 {
			m.C = a.Shape[1]
		}
		if a.Shape[1] != m.C {
			return nil, damaged(path, "%s: %d classes, forget has %d", name, a.Shape[1], m.C)
		}
		return a.Float32s()
	}
	scalar := func(name string) (float64, error) {
		a, err := need(path, arr, name)
		if err != nil {
			return 0, err
		}
		if a.Len() != 1 || !a.IsFloat() {
			return 0, damaged(path, "%s: %s %s, want one float", name, a.Kind(), a.ShapeString())
		}
		v, err := a.Float64s()
		if err != nil {
			return 0, err
		}
		return v[0], nil
	}
	integer := func(name string) (int64, error) {
		a, err := need(path, arr, name)
		if err != nil {
			return 0, err
		}
		if a.Len() != 1 || !a.IsInteger() {
			return 0, damaged(path, "%s: %s %s, want one integer", name, a.Kind(), a.ShapeString())
		}
		v, err := a.Ints()
		if err != nil {
			return 0, err
		}
		return v[0], nil
	}
	if m.Forget, err = logits("forget"); err != nil {
		return nil, err
	}
	if m.Retain, err = logits("retain"); err != nil {
		return nil, err
	}
	if m.Test, err = logits("test"); err != nil {
		return nil, err
	}
	for _, s := range []struct {
		name string
		dst  *float64
	}{{"forget_acc", &m.ForgetAcc}, {"retain_acc", &m.RetainAcc}, {"test_acc", &m.TestAcc}, {"seconds", &m.Seconds}} {
		if *s.dst, err = scalar(s.name); err != nil {
			return nil, err
		}
		if math.IsNaN(*s.dst) || math.IsInf(*s.dst, 0) {
			return nil, damaged(path, "%s is %v", s.name, *s.dst)
		}
	}
	seed, err := integer("seed")
	if err != nil {
		return nil, err
	}
	idx, err := integer("index")
	if err != nil {
		return nil, err
	}
	if seed < 0 || idx < 0 {
		return nil, damaged(path, "seed %d, index %d: want non-negative", seed, idx)
	}
	m.Seed, m.Index = uint64(seed), int(idx)
	if b, ok := arr[populationMember]; ok {
		a, err := decodeArray(path, populationMember, b)
		if err != nil {
			return nil, err
		}
		d, err := a.Uint8s()
		if err != nil || len(d) != sha256.Size {
			return nil, damaged(path, "%s: %s %s, want %d bytes", populationMember, a.Kind(), a.ShapeString(), sha256.Size)
		}
		m.Population = hex.EncodeToString(d)
	}
	return m, nil
}

func need(path string, arr map[string][]byte, name string) (*arrays.Array, error) {
	b, ok := arr[name]
	if !ok {
		return nil, damaged(path, "no array %q", name)
	}
	return decodeArray(path, name, b)
}

func decodeArray(path, name string, b []byte) (*arrays.Array, error) {
	a, err := arrays.Decode(bytes.NewReader(b), int64(len(b)), path+":"+name)
	if err != nil {
		return nil, damaged(path, "%s: %v", name, err)
	}
	return a, nil
}
