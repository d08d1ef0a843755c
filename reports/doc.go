// Package reports owns the versioned JSON result schema (it alone reads and
// writes result files) and renders results as terminal tables; every other
// output is rendered from a Result. It computes no metric.
package reports
