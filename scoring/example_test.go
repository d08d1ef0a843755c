package scoring_test

import (
	"fmt"

	"unlearnbench/scoring"
)

// ExampleScore scores two tiny populations of five models on two forget
// examples: on the first the unlearned models' confidences sit apart from
// the retrained ones' (a rule separates them perfectly: epsilon 50, no
// points), on the second the two overlap (a small epsilon, the points of
// its bucket). With N = 5 there are 4 buckets, worth 1, 1/2, 1/4 and 1/8.
func ExampleScore() {
	// Conf[i*E+e] is model i's confidence on example e.
	unlearned := &scoring.Population{N: 5, E: 2, Conf: []float64{
		4.0, 0.1,
		4.2, -0.3,
		3.9, 0.4,
		4.4, 0.0,
		4.1, -0.2,
	}}
	retrained := &scoring.Population{N: 5, E: 2, Conf: []float64{
		1.0, 0.2,
		1.3, -0.1,
		0.8, 0.3,
		1.1, -0.4,
		0.9, 0.05,
	}}
	res, err := scoring.Score(unlearned, retrained, scoring.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ex := range res.Examples {
		fmt.Printf("example %d: epsilon %.3f, %g points\n", ex.Index, ex.Epsilon, ex.Points)
	}
	fmt.Printf("F = %g\n", res.F)
	// Output:
	// example 0: epsilon 50.000, 0 points
	// example 1: epsilon 1.099, 0.25 points
	// F = 0.125
}
