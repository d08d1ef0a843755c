package evaluate_test

import (
	"context"
	"fmt"
	"log"

	"unlearnbench/evaluate"
	"unlearnbench/population"
)

// Score a method: its unlearned population against the retrained one,
// each read as a PyTorch user saves it (examples/finetune: the models'
// logits on the forget set in an .npz, their retain and test accuracies in
// a CSV), with the forget set's labels.
func ExampleMethod() {
	read := func(role string) *population.Population {
		forget, err := population.ReadValues("../examples/finetune/"+role+".npz", "forget")
		if err != nil {
			log.Fatal(err)
		}
		acc, err := population.ReadAccuracies("../examples/finetune/" + role + "_acc.csv")
		if err != nil {
			log.Fatal(err)
		}
		return &population.Population{Forget: forget, RetainAcc: acc.Retain, TestAcc: acc.Test}
	}
	labels, name, err := population.ReadLabels("../examples/finetune/labels.npy")
	if err != nil {
		log.Fatal(err)
	}
	m, err := evaluate.Method(context.Background(), read("unlearned"), read("retrained"), &population.Labels{Forget: labels, ForgetName: name},
		evaluate.Options{Method: "finetune"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: N = %d models, E = %d forget examples\n", m.Name, m.N, m.E)
	fmt.Printf("forgetting quality F = %.4f, final score %.4f\n", m.Score.F, *m.Score.Final)
	// Output:
	// finetune: N = 128 models, E = 100 forget examples
	// forgetting quality F = 0.0488, final score 0.0485
}
