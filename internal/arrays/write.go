package arrays

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"unlearnbench/internal/atomicfile"
)

// Element is what the writers accept.
type Element interface {
	float32 | float64 | int64 | int32 | uint8
}

// Tensor is a flat C-order slice with its shape.
type Tensor[T Element] struct {
	Shape []int
	Data  []T
}

func (t Tensor[T]) check() error {
	n := 1
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %v", t.Shape)
		}
		n *= d
	}
	if n != len(t.Data) {
		return fmt.Errorf("shape %s needs %d elements, have %d", FormatShape(t.Shape), n, len(t.Data))
	}
	return nil
}

func descrOf[T Element]() string {
	var z T
	switch any(z).(type) {
	case float32:
		return "<f4"
	case float64:
		return "<f8"
	case int64:
		return "<i8"
	case int32:
		return "<i4"
	default:
		return "|u1"
	}
}

// Encode writes t as a version 1.0 .npy stream, header padded so that the
// data starts at a multiple of 64 bytes, as NumPy does.
func Encode[T Element](w io.Writer, t Tensor[T]) error {
	if err := t.check(); err != nil {
		return err
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descrOf[T](), FormatShape(t.Shape))
	if len(t.Shape) == 0 {
		dict = strings.Replace(dict, "(,)", "()", 1)
	}
	total := 10 + len(dict) + 1
	pad := (64 - total%64) % 64
	header := dict + strings.Repeat(" ", pad) + "\n"
	if len(header) > math.MaxUint16 {
		return fmt.Errorf("header of %d bytes is too long", len(header))
	}
	pre := append([]byte{}, magic...)
	pre = append(pre, 1, 0, byte(len(header)), byte(len(header)>>8))
	if _, err := w.Write(pre); err != nil {
		return err
	}
	if _, err := io.WriteString(w, header); err != nil {
		return err
	}
	var buf []byte
	switch d := any(t.Data).(type) {
	case []uint8:
		buf = d
	case []float32:
		buf = make([]byte, 0, 4*len(d))
		for _, v := range d {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
	case []float64:
		buf = make([]byte, 0, 8*len(d))
		for _, v := range d {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
		}
	case []int64:
		buf = make([]byte, 0, 8*len(d))
		for _, v := range d {
			buf = binary.LittleEndian.AppendUint64(buf, uint64(v))
		}
	case []int32:
		buf = make([]byte, 0, 4*len(d))
		for _, v := range d {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(v))
		}
	}
	_, err := w.Write(buf)
	return err
}

// WriteNPY writes one array atomically.
func WriteNPY[T Element](path string, t Tensor[T]) error {
	if err := t.check(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return atomicfile.Write(path, func(w io.Writer) error { return Encode(w, t) })
}

// NPZ collects named arrays for WriteNPZ.
type NPZ map[string]func(io.Writer) error

// Add stores a tensor under name.
func Add[T Element](z NPZ, name string, t Tensor[T]) error {
	if err := t.check(); err != nil {
		return fmt.Errorf("member %s: %w", name, err)
	}
	z[name] = func(w io.Writer) error { return Encode(w, t) }
	return nil
}

// WriteNPZ writes an uncompressed .npz atomically, members in name order so
// that the same arrays always give the same bytes.
func WriteNPZ(path string, z NPZ) error {
	names := make([]string, 0, len(z))
	for k := range z {
		names = append(names, k)
	}
	sort.Strings(names)
	return atomicfile.Write(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		for _, name := range names {
			fw, err := zw.CreateHeader(&zip.FileHeader{Name: name + ".npy", Method: zip.Store})
			if err != nil {
				return err
			}
			if err := z[name](fw); err != nil {
				return fmt.Errorf("member %s: %w", name, err)
			}
		}
		return zw.Close()
	})
}
