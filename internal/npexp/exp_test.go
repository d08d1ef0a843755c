package npexp

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"testing"
)

// inputs is the list testdata/gen_exp_fixture.py's inputs() builds, in the
// same order; see there for what each part covers.
func inputs() []uint32 {
	var out []uint32
	span := func(from, to, step uint64) {
		for b := from; b < to; b += step {
			out = append(out, uint32(b))
		}
	}
	span(0x80000000, 0xC2D00001, 109)
	span(0xB9800000, 0xC2D00001, 23)
	span(0, 0x42B20001, 1009)
	for _, x := range []float32{88.72283935546875, -87.33654475, -103.27892990, -103.97208404541015625} {
		b := uint64(math.Float32bits(x))
		span(b-4096, b+4096, 1)
	}
	span(0, 4096, 1)
	span(0x80000000, 0x80000000+4096, 1)
	out = append(out, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000,
		0x7F800001, 0xFF800001, 0x7FFFFFFF, 0xFFFFFFFF)
	return out
}

type fixture struct {
	NumPy   string   `json:"numpy"`
	Count   int      `json:"count"`
	Chunk   int      `json:"chunk"`
	Differ  int      `json:"differ_from_correctly_rounded"`
	Digests []string `json:"sha256_chunks"`
}

// TestExpMatchesNumPy compares Exp with NumPy's np.exp on over 10 million
// float32 inputs, through the digests of NumPy's outputs in
// testdata/exp_fixture.json (written by gen_exp_fixture.py beside it). A
// failure names the chunk and its input range.
func TestExpMatchesNumPy(t *testing.T) {
	raw, err := os.ReadFile("testdata/exp_fixture.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx fixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	in := inputs()
	if len(in) != fx.Count || fx.Count < 10_000_000 {
		t.Fatalf("%d inputs, fixture has %d (want the same, at least 10 million): inputs() and the generator disagree", len(in), fx.Count)
	}
	if want := (len(in) + fx.Chunk - 1) / fx.Chunk; len(fx.Digests) != want {
		t.Fatalf("fixture has %d digests, want %d", len(fx.Digests), want)
	}
	buf := make([]byte, 4*fx.Chunk)
	xs, ys := make([]float32, fx.Chunk), make([]float32, fx.Chunk)
	differ := 0
	for c := 0; c*fx.Chunk < len(in); c++ {
		part := in[c*fx.Chunk : min((c+1)*fx.Chunk, len(in))]
		b := buf[:4*len(part)]
		x := xs[:len(part)]
		for i, bits := range part {
			x[i] = math.Float32frombits(bits)
			y := Exp(x[i])
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(y))
			if !math.IsNaN(float64(x[i])) && !math.IsInf(float64(x[i]), 0) && y != float32(math.Exp(float64(x[i]))) {
				differ++
			}
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != fx.Digests[c] {
			t.Errorf("chunk %d (inputs %d to %d, %#08x to %#08x): NumPy %s gave other bits (digest %s, want %s)",
				c, c*fx.Chunk, c*fx.Chunk+len(part)-1, part[0], part[len(part)-1], fx.NumPy, got, fx.Digests[c])
		}
		// ExpSlice, the fast path, on the same chunk (an odd offset, so that
		// its blocks of four and its tail both meet every kind of input).
		ExpSlice(ys[:len(x)-1], x[1:])
		for i, y := range ys[:len(x)-1] {
			binary.LittleEndian.PutUint32(b[4*(i+1):], math.Float32bits(y))
		}
		binary.LittleEndian.PutUint32(b, math.Float32bits(Exp(x[0])))
		sum = sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != fx.Digests[c] {
			t.Errorf("chunk %d: ExpSlice gave other bits than NumPy %s (digest %s, want %s)", c, fx.NumPy, got, fx.Digests[c])
		}
	}
	// The generator counted the differences from glibc's float64 exp rounded
	// to float32, the correctly rounded exp as Go's is: the same count says
	// both sides computed over the same inputs; zero would mean the inputs
	// no longer tell NumPy's exp from a correctly rounded one.
	if differ != fx.Differ {
		t.Errorf("%d of %d results differ from float32(math.Exp); the generator counted %d against glibc's exp", differ, len(in), fx.Differ)
	}
	if differ == 0 {
		t.Errorf("no result differs from the correctly rounded exp: the fixture no longer tells the two apart")
	}
}

// TestExpSpecials pins a few values NumPy 1.24.2 gives (np.exp on a
// float32 array, this machine), readable where the fixture has digests only;
// -1 is one where NumPy's exp is not the correctly rounded 0x3ebc5ab2.
func TestExpSpecials(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, c := range []struct {
		x, want float32
	}{
		{0, 1}, {float32(math.Copysign(0, -1)), 1}, {inf, inf}, {-inf, 0},
		{XMax, inf}, {math.Nextafter32(XMax, 0), math.Float32frombits(0x7f7fff84)}, {XMin, 0},
		{88, math.Float32frombits(0x7ef882b7)}, {-1, math.Float32frombits(0x3ebc5ab1)},
		{-100, math.Float32frombits(0x1b)}, // subnormal
	} {
		if got := Exp(c.x); got != c.want {
			t.Errorf("Exp(%g) = %g (%#08x), want %g", c.x, got, math.Float32bits(got), c.want)
		}
	}
	for _, b := range []uint32{0x7FC00000, 0xFFC00000, 0x7F800001, 0xFFFFFFFF} {
		if got := math.Float32bits(Exp(math.Float32frombits(b))); got != 0x7FC00000 {
			t.Errorf("Exp(NaN %#08x) has bits %#08x, want NumPy's 0x7fc00000", b, got)
		}
	}
}

// TestFMA32 checks the float32 fused multiply-add against exact rational
// arithmetic on values built to land on float32 midpoints, where a plain
// float64 FMA rounded to float32 would round twice.
func TestFMA32(t *testing.T) {
	// a*b = 1 + 2^-24 exactly (a midpoint between 1 and 1+2^-23), c tiny:
	// float64 keeps 1 + 2^-24 + c only if c is not too small; for
	// c = ±2^-80 the float64 sum rounds onto the midpoint and a double
	// rounding would go to even (1).
	// a = b = 1 + 2^-12: a*b = 1 + 2^-11 + 2^-24, exactly halfway between
	// the float32 values 1 + 2^-11 and 1 + 2^-11 + 2^-23. Adding ±2^-80
	// moves the exact sum off the midpoint, but float64 rounds it back on.
	a, b := float32(1+0x1p-12), float32(1+0x1p-12)
	lo, hi := float32(1+0x1p-11), float32(1+0x1p-11+0x1p-23)
	if got := fma32(a, b, 0x1p-80); got != hi {
		t.Errorf("fma32 just above a midpoint = %v, want %v", got, hi)
	}
	if got := fma32(a, b, -0x1p-80); got != lo {
		t.Errorf("fma32 just below a midpoint = %v, want %v", got, lo)
	}
	if got := fma32(a, b, 0); got != lo { // a tie: to even (lo's last bit is 0)
		t.Errorf("fma32 on a midpoint = %v, want %v (ties to even)", got, lo)
	}
	// The double rounding fma32 guards against does happen with a plain
	// float64 FMA: the test would not catch anything otherwise.
	if float32(math.FMA(float64(a), float64(b), 0x1p-80)) == hi {
		t.Errorf("float64 FMA got the midpoint case right; the test case no longer exercises the correction")
	}
}
