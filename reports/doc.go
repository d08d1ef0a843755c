// Package reports renders results (package result's schema) as terminal
// tables, CSV, Markdown and one self-contained HTML page with gonum/plot
// SVGs, and compares two results with bootstrap intervals for regression
// gates. It reads and writes no result file itself and computes no metric
// of its own.
package reports
