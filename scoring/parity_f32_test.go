package scoring

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"
)

// The populations of testdata/gen_parity_f32.py, rebuilt here bit for bit:
// SplitMix64 at counters 1..n (counter based, so no state to share), the
// top 24 bits as a float32 in [0, 1), and float32 arithmetic that rounds
// once per operation as NumPy's float32 array operations do.

func splitmix(seed uint64, i uint64) uint64 {
	z := seed + (i+1)*0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func unit32(seed, i uint64) float32 { return float32(splitmix(seed, i)>>40) * 0x1p-24 }

func parityPopulations(seed uint64, n, e, c int) (u, r *Logits, labels []int) {
	labels = make([]int, e)
	bias := make([]float32, e)
	extraU := make([]float32, e)
	for j := range labels {
		labels[j] = int(splitmix(seed*16+1, uint64(j)) % uint64(c))
		bias[j] = unit32(seed*16+2, uint64(j)) * 8
		shift := unit32(seed*16+3, uint64(j))*2 - 1
		extraU[j] = bias[j] + shift
	}
	build := func(p uint64, extra []float32) *Logits {
		l := &Logits{N: n, E: e, C: c, F32: make([]float32, n*e*c)}
		for i := range l.F32 {
			z := unit32(seed*16+4+p, uint64(i))*16 - 8
			if j := (i / c) % e; i%c == labels[j] {
				z += extra[j]
			}
			l.F32[i] = z
		}
		return l
	}
	return build(0, extraU), build(1, bias), labels
}

type parityCase struct {
	Seed        uint64    `json:"seed"`
	N           int       `json:"n"`
	E           int       `json:"e"`
	C           int       `json:"c"`
	F           float64   `json:"f"`
	FCR         float64   `json:"f_correctly_rounded_exp"`
	Changed     int       `json:"epsilons_changed_by_correctly_rounded_exp"`
	Discarded   []int     `json:"all_discarded"`
	ProbsSHA256 [4]string `json:"probs_sha256"`
	ConfSHA256  [2]string `json:"conf_sha256"`
	Epsilons    []float64 `json:"epsilons"` // NumPy's, for the record
}

func confDigest(conf []float64) string {
	b := make([]byte, 8*len(conf))
	for i, v := range conf {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestParityFloat32Logits computes step 1 of the metric on populations of
// float32 logits up to its logarithms, p_correct and p_wrong of every model
// and example, and compares them bit for bit with what the competition's
// code computes with NumPy (digests in testdata/parity_f32.json, made by
// gen_parity_f32.py beside it). About a third of NumPy's float32 exps differ
// from a correctly rounded exp, so this fails unless step 1 uses NumPy's
// own exp.
//
// It compares the confidences themselves the same way (with Go's math.Log
// every population's differ), then it scores the two populations and compares every epsilon and F
// with NumPy's, exactly: step 1's logarithms are NumPy's float64 log
// (internal/nplog), and with Go's math.Log instead 3 of the 1,550 epsilons
// and 2 of the 8 F values differ. The fixture also shows that the exp
// matters: in some cases NumPy's F with a correctly rounded exp differs
// from its F with its own.
func TestParityFloat32Logits(t *testing.T) {
	raw, err := os.ReadFile("testdata/parity_f32.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Cases []parityCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	sensitive := 0
	for _, pc := range fx.Cases {
		if pc.F != pc.FCR {
			sensitive++
		}
		t.Run(fmt.Sprintf("N=%d/E=%d/seed=%d", pc.N, pc.E, pc.Seed), func(t *testing.T) {
			lu, lr, labels := parityPopulations(pc.Seed, pc.N, pc.E, pc.C)
			scratch := make([]float64, pc.C)
			pops := [2]*Population{}
			for k, l := range []*Logits{lu, lr} {
				pcs, pws := make([]float64, pc.N*pc.E), make([]float64, pc.N*pc.E)
				for i := 0; i < pc.N; i++ {
					for e := 0; e < pc.E; e++ {
						off := (i*pc.E + e) * pc.C
						pcs[i*pc.E+e], pws[i*pc.E+e] = ProbabilitiesFloat32(l.F32[off:off+pc.C], labels[e], scratch)
					}
				}
				name := []string{Unlearned, Retrained}[k]
				// Confidences takes its exps in blocks of rows, in parallel:
				// it must give what ConfidenceFloat32 gives row by row.
				conf, err := l.Confidences(labels)
				if err != nil {
					t.Fatal(err)
				}
				for row, v := range conf {
					off := row * pc.C
					if want := ConfidenceFloat32(l.F32[off:off+pc.C], labels[row%pc.E], scratch); v != want {
						t.Fatalf("%s model %d, example %d: Confidences %v, ConfidenceFloat32 %v", name, row/pc.E, row%pc.E, v, want)
					}
				}
				if got := confDigest(pcs); got != pc.ProbsSHA256[2*k] {
					t.Errorf("%s p_correct differs from NumPy's (digest %s, want %s)", name, got, pc.ProbsSHA256[2*k])
				}
				if got := confDigest(pws); got != pc.ProbsSHA256[2*k+1] {
					t.Errorf("%s p_wrong differs from NumPy's (digest %s, want %s)", name, got, pc.ProbsSHA256[2*k+1])
				}
				if got := confDigest(conf); got != pc.ConfSHA256[k] {
					t.Errorf("%s confidences differ from NumPy's (digest %s, want %s)", name, got, pc.ConfSHA256[k])
				}
				pops[k] = &Population{N: pc.N, E: pc.E, Conf: conf}
			}
			res, err := Score(pops[0], pops[1], Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(pc.Epsilons) != pc.E {
				t.Fatalf("fixture has %d epsilons for %d examples", len(pc.Epsilons), pc.E)
			}
			differ := 0
			for e, ex := range res.Examples {
				if ex.Epsilon != pc.Epsilons[e] {
					if differ < 5 {
						t.Errorf("example %d: epsilon %v, NumPy's %v", e, ex.Epsilon, pc.Epsilons[e])
					}
					differ++
				}
			}
			if differ > 0 {
				t.Errorf("%d of %d epsilons differ from NumPy's", differ, pc.E)
			}
			if res.F != pc.F {
				t.Errorf("F = %v, NumPy's %v", res.F, pc.F)
			}
			var undetermined []int
			for e, ex := range res.Examples {
				if ex.Undetermined {
					undetermined = append(undetermined, e)
				}
			}
			if fmt.Sprint(undetermined) != fmt.Sprint(pc.Discarded) && len(undetermined)+len(pc.Discarded) > 0 {
				t.Errorf("examples with every rule discarded: %v, NumPy's %v", undetermined, pc.Discarded)
			}
		})
	}
	if sensitive == 0 {
		t.Errorf("no case has an F that a correctly rounded exp changes: the fixture no longer shows why the exp matters")
	}
}
