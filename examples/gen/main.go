// Command gen writes the example populations under examples/ that `make
// demo` and the README score. They are simulated, from a fixed seed, until
// the end-to-end run can produce real ones: per forget example, retrained
// models' true-class logit scatters around the example's difficulty, and the
// unlearned (fine-tuned) models keep some of the original model's
// memorisation, more on some examples than others.
//
//	go run ./examples/gen -out examples/finetune
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"unlearnbench/internal/arrays"
	"unlearnbench/internal/atomicfile"
)

func main() {
	out := flag.String("out", "examples/finetune", "output directory")
	n := flag.Int("n", 128, "models per population")
	e := flag.Int("e", 100, "forget examples")
	c := flag.Int("c", 10, "classes")
	seed := flag.Uint64("seed", 2023, "random seed")
	flag.Parse()
	if err := generate(*out, *n, *e, *c, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func generate(dir string, n, e, c int, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	labels := make([]int64, e)
	difficulty := make([]float64, e)
	memorised := make([]float64, e)
	for j := 0; j < e; j++ {
		labels[j] = int64(rng.IntN(c))
		difficulty[j] = 2.5 + 1.5*rng.NormFloat64()
		if rng.Float64() < 0.3 {
			memorised[j] = 0 // forgotten completely
		} else {
			memorised[j] = rng.ExpFloat64()
		}
	}
	logits := func(unlearned bool) []float32 {
		out := make([]float32, n*e*c)
		for i := 0; i < n; i++ {
			for j := 0; j < e; j++ {
				row := out[(i*e+j)*c : (i*e+j+1)*c]
				for k := range row {
					row[k] = float32(rng.NormFloat64())
				}
				centre, sd := difficulty[j], 1.2
				if unlearned {
					centre, sd = difficulty[j]+memorised[j], 0.9
				}
				row[labels[j]] = float32(centre + sd*rng.NormFloat64())
			}
		}
		return out
	}
	accuracies := func(retain, test, sd float64) string {
		var b strings.Builder
		b.WriteString("model,retain,test\n")
		clip := func(v float64) float64 { return math.Max(0, math.Min(1, v)) }
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "%d,%.4f,%.4f\n", i, clip(retain+sd*rng.NormFloat64()), clip(test+sd*rng.NormFloat64()))
		}
		return b.String()
	}
	shape := []int{n, e, c}
	for _, pop := range []struct {
		name      string
		unlearned bool
	}{{"unlearned", true}, {"retrained", false}} {
		z := arrays.NPZ{}
		if err := arrays.Add(z, "forget", arrays.Tensor[float32]{Shape: shape, Data: logits(pop.unlearned)}); err != nil {
			return err
		}
		if err := arrays.WriteNPZ(filepath.Join(dir, pop.name+".npz"), z); err != nil {
			return err
		}
	}
	if err := arrays.WriteNPY(filepath.Join(dir, "labels.npy"), arrays.Tensor[int64]{Shape: []int{e}, Data: labels}); err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, "unlearned_acc.csv"), []byte(accuracies(0.962, 0.866, 0.008))); err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(dir, "retrained_acc.csv"), []byte(accuracies(0.955, 0.878, 0.010)))
}
