package nplog

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"testing"
)

// edges is rcpEdge as gen_log_fixture.py lists it: the script writes the
// edges down independently, so a changed table shows here too.
var edges = [16]uint64{
	0xf080, 0xd41c, 0xbad0, 0xa41a, 0x8f9c, 0x7d07, 0x6c15, 0x5c99,
	0x4e5f, 0x4143, 0x3523, 0x29e6, 0x1f70, 0x15b4, 0x0c97, 0x040f,
}

func splitmix(seed, i uint64) uint64 {
	z := seed + (i+1)*0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// inputs is the list testdata/gen_log_fixture.py's inputs() builds, in the
// same order; see there for what each part covers.
func inputs() []uint64 {
	const one = 0x3FF0000000000000
	var out []uint64
	span := func(from, to, step uint64) {
		for b := from; b < to; b += step {
			out = append(out, b)
		}
	}
	span(1, one+1, one/4000000|1)
	u := make([]float64, 2000000)
	for i := range u {
		u[i] = float64(splitmix(1, uint64(i))>>11) * 0x1p-53
		out = append(out, math.Float64bits(u[i]))
	}
	for _, v := range u {
		out = append(out, math.Float64bits(1-v))
	}
	span(one-1<<20, one+1<<20, 1)
	span(0x3FE0000000000000, 0x4000000000000000, (1<<53)/1000000|1)
	span(0x4000000000000000, 0x7FF0000000000000, one/1000000|1)
	for _, e := range []int64{0, -1, -10, -700} {
		for _, edge := range edges {
			b := uint64(1023+e)<<52 | edge<<36
			span(b-4096, b+4096, 1)
		}
	}
	for k := uint64(1); k < 2047; k++ {
		span(k<<52-16, k<<52+17, 1)
	}
	span(1, 1<<20, 1)
	span(1<<20, 1<<52, (1<<52)/1000000|1)
	out = append(out, 0, 1<<63, 0x7FF0000000000000, 0xFFF0000000000000,
		0x7FF8000000000000, 0xFFF8000000000000, 0x7FF0000000000001,
		0x7FF8000000000123, 0xFFF0000000000001, 0x7FFFFFFFFFFFFFFF,
		0xBFF0000000000000, 0x8000000000000001, 0xFFEFFFFFFFFFFFFF)
	return out
}

type fixture struct {
	NumPy   string   `json:"numpy"`
	Count   int      `json:"count"`
	Chunk   int      `json:"chunk"`
	Differ  int      `json:"differ_from_libc"`
	Digests []string `json:"sha256_chunks"`
}

// TestLogMatchesNumPy compares Log with NumPy's np.log on
// over 14 million float64 inputs, through the digests of NumPy's outputs in
// testdata/log_fixture.json (written by gen_log_fixture.py beside it). A
// failure names the chunk and its input range.
func TestLogMatchesNumPy(t *testing.T) {
	raw, err := os.ReadFile("testdata/log_fixture.json")
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
	buf := make([]byte, 8*fx.Chunk)
	goDiffer := 0
	for c := 0; c*fx.Chunk < len(in); c++ {
		part := in[c*fx.Chunk : min((c+1)*fx.Chunk, len(in))]
		b := buf[:8*len(part)]
		for i, bits := range part {
			x := math.Float64frombits(bits)
			y := Log(x)
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(y))
			if x > 0 && y != math.Log(x) {
				goDiffer++
			}
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != fx.Digests[c] {
			t.Errorf("chunk %d (inputs %d to %d, %#016x to %#016x): NumPy %s gave other bits (digest %s, want %s)",
				c, c*fx.Chunk, c*fx.Chunk+len(part)-1, part[0], part[len(part)-1], fx.NumPy, got, fx.Digests[c])
		}
	}
	// The fixture must tell NumPy's log from the C library's (the generator
	// counted) and from Go's: otherwise it proves nothing about the choice.
	if fx.Differ == 0 || goDiffer == 0 {
		t.Errorf("NumPy's log differs from libc's on %d inputs and from math.Log on %d: want both above 0", fx.Differ, goDiffer)
	}
	t.Logf("NumPy's log differs from math.Log on %d of %d inputs (from libc's on %d)", goDiffer, len(in), fx.Differ)
}

// TestLogSpecials pins values NumPy 1.24.2 gives (np.log on a float64
// array, this machine), readable where the fixture has digests only.
func TestLogSpecials(t *testing.T) {
	for _, c := range []struct{ x, want uint64 }{
		{0, 0xfff0000000000000}, {1 << 63, 0xfff0000000000000},
		{0xbff0000000000000, 0xfff8000000000000}, {0xfff0000000000000, 0xfff8000000000000},
		{0x7ff0000000000000, 0x7ff0000000000000},
		{0x7ff8000000000000, 0x7ff8000000000000}, {0xfff8000000000000, 0xfff8000000000000},
		{0x7ff0000000000001, 0x7ff8000000000001}, {0x7ff8000000000123, 0x7ff8000000000123},
		{0xfff0000000000001, 0xfff8000000000001},
		{0x3ff0000000000000, 0}, {0x4000000000000000, 0x3fe62e42fefa39ef},
		{0x3fe0000000000000, 0xbfe62e42fefa39ef}, {1, 0xc0874385446d71c3},
		{0x3fefffffffffffff, 0xbca0000000000000},
	} {
		if got := math.Float64bits(Log(math.Float64frombits(c.x))); got != c.want {
			t.Errorf("Log(%#016x) = %#016x, want %#016x", c.x, got, c.want)
		}
	}
}

// TestTable checks the kernel's table against its definition, -ln of the
// reciprocals, to within an ulp of Go's log (the table is Intel's
// correctly rounded values; math.Log is within an ulp).
func TestTable(t *testing.T) {
	for i, v := range negLogRcp {
		c := float64(16+i) / 16
		if i >= 8 {
			c = float64(16+i) / 32
		}
		want := -math.Log(c)
		if d := math.Float64bits(v) - math.Float64bits(want); v != want && d != 1 && d != 1<<64-1 {
			t.Errorf("negLogRcp[%d] = %v, want -ln(%v) = %v", i, v, c, want)
		}
	}
	for k := 16; k < 32; k++ {
		// The edge between k/32 and (k+1)/32 lies within 2^-14 of where
		// 1/m crosses their midpoint.
		m := 32 / (float64(k) + 0.5)
		e := 1 + float64(rcpEdge[k-16])*0x1p-16
		if math.Abs(e-m)/m > 0x1p-14 {
			t.Errorf("edge %d at %v, %v from 1/((k+1/2)/32)", k, e, e-m)
		}
	}
}
