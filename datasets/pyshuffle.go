package datasets

import (
	"math/bits"

	"unlearnbench/internal/usererr"
)

// PythonShuffle returns the permutation Python's random.Random(seed)
// .shuffle(list(range(n))) makes: the fixed shuffle of the NeurIPS 2023
// competition's surf.py (random.Random(43) over its images in file
// order). Written by hand because the split must match CPython bit for
// bit (its MT19937 seeding by init_by_array over the seed's 32-bit words,
// and shuffle's rejection sampling by getrandbits), which no maintained Go
// package reproduces; datasets/testdata/pyshuffle.py prints the fixture
// the test compares with.
func PythonShuffle(seed uint64, n int) ([]int, error) {
	if n < 0 || int64(n) > 1<<32 {
		return nil, usererr.Errorf("python shuffle of %d examples: want 0 to 2^32", n)
	}
	// random.seed(int): the absolute value's 32-bit words, least
	// significant first (one word for 0).
	key := []uint32{uint32(seed)}
	if hi := uint32(seed >> 32); hi != 0 {
		key = append(key, hi)
	}
	mt := newMT19937(key)
	x := make([]int, n)
	for i := range x {
		x[i] = i
	}
	for i := n - 1; i >= 1; i-- {
		j := mt.randbelow(uint32(i + 1))
		x[i], x[j] = x[j], x[i]
	}
	return x, nil
}

// mt19937 is CPython's Mersenne Twister (Modules/_randommodule.c).
type mt19937 struct {
	s [624]uint32
	i int
}

func newMT19937(key []uint32) *mt19937 {
	m := &mt19937{}
	// init_genrand(19650218)
	m.s[0] = 19650218
	for i := 1; i < 624; i++ {
		m.s[i] = 1812433253*(m.s[i-1]^(m.s[i-1]>>30)) + uint32(i)
	}
	// init_by_array
	i, j := 1, 0
	for k := max(624, len(key)); k > 0; k-- {
		m.s[i] = (m.s[i] ^ ((m.s[i-1] ^ (m.s[i-1] >> 30)) * 1664525)) + key[j] + uint32(j)
		i++
		j++
		if i >= 624 {
			m.s[0] = m.s[623]
			i = 1
		}
		if j >= len(key) {
			j = 0
		}
	}
	for k := 623; k > 0; k-- {
		m.s[i] = (m.s[i] ^ ((m.s[i-1] ^ (m.s[i-1] >> 30)) * 1566083941)) - uint32(i)
		i++
		if i >= 624 {
			m.s[0] = m.s[623]
			i = 1
		}
	}
	m.s[0] = 0x80000000
	m.i = 624
	return m
}

// uint32 is genrand_uint32.
func (m *mt19937) uint32() uint32 {
	const upper, lower = 0x80000000, 0x7fffffff
	mag := [2]uint32{0, 0x9908b0df}
	if m.i >= 624 {
		for k := range 624 {
			y := (m.s[k] & upper) | (m.s[(k+1)%624] & lower)
			m.s[k] = m.s[(k+397)%624] ^ (y >> 1) ^ mag[y&1]
		}
		m.i = 0
	}
	y := m.s[m.i]
	m.i++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

// randbelow is Random._randbelow_with_getrandbits for 0 < n < 2^32:
// getrandbits(n.bit_length()) until below n.
func (m *mt19937) randbelow(n uint32) int {
	k := bits.Len32(n)
	for {
		if r := m.uint32() >> (32 - k); r < n {
			return int(r)
		}
	}
}
