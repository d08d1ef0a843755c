package arrays

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"unsafe"

	"unlearnbench/internal/usererr"
)

// Array is one decoded array in C (row-major) order.
type Array struct {
	// Name says where the array came from: "file.npy" or "file.npz:member".
	Name string
	// Shape has one entry per dimension; a scalar has none.
	Shape []int
	// DType is the NumPy type string, for example "<f4" or "|u1".
	DType string

	kind byte // 'f', 'i', 'u' or 'b'
	size int  // bytes per element
	big  bool // big-endian data
	data []byte
}

// Len is the number of elements.
func (a *Array) Len() int { return len(a.data) / a.size }

// Kind describes the element type in words, for error messages.
func (a *Array) Kind() string {
	switch a.kind {
	case 'f':
		return fmt.Sprintf("float%d", 8*a.size)
	case 'i':
		return fmt.Sprintf("int%d", 8*a.size)
	case 'u':
		return fmt.Sprintf("uint%d", 8*a.size)
	default:
		return "bool"
	}
}

// IsFloat reports whether elements are floating point.
func (a *Array) IsFloat() bool { return a.kind == 'f' }

// IsInteger reports whether elements are integers or booleans.
func (a *Array) IsInteger() bool { return a.kind != 'f' }

func (a *Array) order() binary.ByteOrder {
	if a.big {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// nativeLittleEndian is true on little-endian machines, where .npy's usual
// little-endian data can be used in place.
var nativeLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// Float64s returns the elements as float64; it accepts float16, float32 and
// float64 arrays only (every value exactly), since silently reading
// integers as logits hides mistakes.
func (a *Array) Float64s() ([]float64, error) {
	bo := a.order()
	out := make([]float64, a.Len())
	switch {
	case a.kind == 'f' && a.size == 2:
		for i := range out {
			out[i] = float64(Float16(bo.Uint16(a.data[2*i:])))
		}
	case a.kind == 'f' && a.size == 4:
		for i := range out {
			out[i] = float64(math.Float32frombits(bo.Uint32(a.data[4*i:])))
		}
	case a.kind == 'f' && a.size == 8:
		for i := range out {
			out[i] = math.Float64frombits(bo.Uint64(a.data[8*i:]))
		}
	default:
		return nil, usererr.Errorf("%s: dtype %s (%s) is not supported here; want float16, float32 or float64", a.Name, a.DType, a.Kind())
	}
	return out, nil
}

// Float32s returns the elements as float32, accepting float16 (exactly),
// float32 and float64 (rounded) arrays. Little-endian float32 data is returned in place, without
// a copy (a population's logits can be hundreds of megabytes); the Array must
// not be used to change it afterwards.
func (a *Array) Float32s() ([]float32, error) {
	if a.kind == 'f' && a.size == 4 {
		if !a.big && nativeLittleEndian && len(a.data) > 0 && uintptr(unsafe.Pointer(&a.data[0]))%4 == 0 {
			return unsafe.Slice((*float32)(unsafe.Pointer(&a.data[0])), len(a.data)/4), nil
		}
		bo := a.order()
		out := make([]float32, a.Len())
		for i := range out {
			out[i] = math.Float32frombits(bo.Uint32(a.data[4*i:]))
		}
		return out, nil
	}
	if a.kind == 'f' && a.size == 2 {
		bo := a.order()
		out := make([]float32, a.Len())
		for i := range out {
			out[i] = Float16(bo.Uint16(a.data[2*i:]))
		}
		return out, nil
	}
	f, err := a.Float64s()
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(f))
	for i, v := range f {
		out[i] = float32(v)
	}
	return out, nil
}

// BFloat16s returns the elements of a 16-bit integer array read as the bit
// patterns of bfloat16 values, upcast exactly to float32. NumPy has no
// bfloat16, so PyTorch users save such tensors with
// t.view(torch.uint16).numpy() (or torch.int16): the bits are the top half
// of a float32's.
func (a *Array) BFloat16s() ([]float32, error) {
	if (a.kind != 'u' && a.kind != 'i') || a.size != 2 {
		return nil, usererr.Errorf("%s: dtype %s (%s) cannot hold bfloat16 bit patterns; want uint16 or int16", a.Name, a.DType, a.Kind())
	}
	bo := a.order()
	out := make([]float32, a.Len())
	for i := range out {
		out[i] = math.Float32frombits(uint32(bo.Uint16(a.data[2*i:])) << 16)
	}
	return out, nil
}

// Float16 is the IEEE half-precision value with bits h, exactly as a
// float32 (every float16 is one: 11 significant bits, exponents -24 to 15).
// Written out because the standard library has no float16, and the
// conversion is a few lines of bit moves.
func Float16(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN, payload kept
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp != 0: // normal: rebias 15 -> 127
		return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
	case frac == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal: frac * 2^-24, exact in float32.
	v := float32(frac) * 0x1p-24
	if sign != 0 {
		v = -v
	}
	return v
}

// Ints returns the elements as int64; it accepts signed and unsigned
// integers and booleans, and rejects uint64 values beyond int64.
func (a *Array) Ints() ([]int64, error) {
	if a.kind == 'f' {
		return nil, usererr.Errorf("%s: dtype %s (%s) is not supported here; want an integer type", a.Name, a.DType, a.Kind())
	}
	bo := a.order()
	out := make([]int64, a.Len())
	for i := range out {
		b := a.data[a.size*i:]
		switch {
		case a.size == 1 && a.kind == 'i':
			out[i] = int64(int8(b[0]))
		case a.size == 1:
			out[i] = int64(b[0])
		case a.size == 2 && a.kind == 'i':
			out[i] = int64(int16(bo.Uint16(b)))
		case a.size == 2:
			out[i] = int64(bo.Uint16(b))
		case a.size == 4 && a.kind == 'i':
			out[i] = int64(int32(bo.Uint32(b)))
		case a.size == 4:
			out[i] = int64(bo.Uint32(b))
		case a.kind == 'i':
			out[i] = int64(bo.Uint64(b))
		default:
			u := bo.Uint64(b)
			if u > math.MaxInt64 {
				return nil, usererr.Errorf("%s: element %d = %d does not fit in int64", a.Name, i, u)
			}
			out[i] = int64(u)
		}
	}
	return out, nil
}

// Uint8s returns the raw elements of a uint8 array (images) without copying.
func (a *Array) Uint8s() ([]uint8, error) {
	if a.kind != 'u' || a.size != 1 {
		return nil, usererr.Errorf("%s: dtype %s (%s) is not supported here; want uint8", a.Name, a.DType, a.Kind())
	}
	return a.data, nil
}

// ShapeString formats the shape as NumPy prints it, e.g. "(3, 4)".
func (a *Array) ShapeString() string { return FormatShape(a.Shape) }

// FormatShape formats a shape as NumPy prints it.
func FormatShape(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	if len(shape) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
