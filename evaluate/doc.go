// Package evaluate turns an unlearned and a retrained population into one
// method's result: the competition's score, per-model accuracies, the
// distributions a report plots and, when asked, every attack. score, attack
// and run call Method; no command builds a result's method by hand. It also
// says how many models an interval of F needs and how far a run should grow
// its populations for one (growth.go).
package evaluate
