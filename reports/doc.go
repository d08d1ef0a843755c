// Package reports owns the versioned JSON result schema (it alone reads and
// writes result files), renders results as terminal tables, CSV, Markdown
// and one self-contained HTML page with gonum/plot SVGs, and compares two
// results with bootstrap intervals for regression gates. It computes no
// metric of its own.
package reports
