package result_test

import (
	"fmt"
	"log"

	"unlearnbench/result"
	"unlearnbench/scoring"
)

// Read loads a result file that run, score or attack wrote, refusing other
// schemas and inconsistent files, so every number below is one the file's
// own checks accept. This is the run result the README's examples use.
func ExampleRead() {
	r, err := result.Read("../testdata/results/full.json")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %d.%d, written by %q\n", r.Schema, r.Version, r.Minor, r.Command)
	fmt.Printf("forget set: %d of %d training examples (%s)\n", r.Data.Forget, r.Data.Train, r.Data.ForgetSelection)
	for _, m := range r.Methods {
		score, name := m.ScoreValue()
		acc := m.AccuracySpread(scoring.Unlearned, result.TestAccuracy)
		fmt.Printf("%s: N = %d models, E = %d forget examples, %s %.4f, test accuracy %.3f ± %.3f, %d attacks\n",
			m.Name, m.N, m.E, name, score, acc.Mean, acc.Std, len(m.Attacks))
		worst := result.WorstExamples(m.Examples)[0]
		fmt.Printf("  worst forgotten: example %d, epsilon %.3f\n", worst.Index, worst.Epsilon)
	}
	// Output:
	// unlearnbench.result 1.3, written by "run"
	// forget set: 40 of 2000 training examples (40 examples drawn at random, seed 2023)
	// finetune: N = 32 models, E = 40 forget examples, final score 0.1623, test accuracy 0.869 ± 0.011, 8 attacks
	//   worst forgotten: example 39, epsilon 3.367
	// noop: N = 32 models, E = 40 forget examples, final score 0.0685, test accuracy 0.869 ± 0.011, 8 attacks
	//   worst forgotten: example 2, epsilon 50.000
}
