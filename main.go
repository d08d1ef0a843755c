// Command unlearnbench measures whether an unlearned model really forgot, the
// way the NeurIPS 2023 Machine Unlearning competition did: membership-inference
// attacks try to tell a population of unlearned models from a population
// retrained without the forget set, and their error rates become per-example
// epsilons, points, a forgetting quality and a utility-adjusted final score.
//
// See README.md for every command with an example; the examples there are
// executed by cli/readme_test.go, so they show real output.
//
// Exit codes: 0 success, 1 internal failure, 2 the user's input is wrong,
// 3 compare found a significant regression, 130 train was interrupted.
package main

import (
	"os"

	"unlearnbench/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr))
}
