package nn

// convArithmetic versions the float32 arithmetic of models with
// convolutions: the same model, data and seed give the same bits only
// within one version. Version 2 (issue 22) computes small-map Convs and
// their gradients as GEMMs over the batch, and evaluates long data sets on
// a session with the weights folded in as constants; both change the last
// bits of the weights a training gives and of the logits. Bump it with
// every such change: caches key on it (Arithmetic), so that a population
// never mixes members of two arithmetics and a cached original is the one
// this version would train.
const convArithmetic = "2"

// Arithmetic names the version of the arithmetic that m's training and
// evaluation run, for cache keys: "" for a model without convolutions,
// whose arithmetic has not changed (their keys stay as they were).
func Arithmetic(m *Model) string {
	for _, n := range m.Graph.Nodes {
		if n.OpType == "Conv" {
			return "conv " + convArithmetic
		}
	}
	return ""
}

// ArchArithmetic is Arithmetic of the zoo's architecture arch (every one
// but the MLP has convolutions).
func ArchArithmetic(arch string) string {
	if arch == ArchMLP {
		return ""
	}
	return "conv " + convArithmetic
}
