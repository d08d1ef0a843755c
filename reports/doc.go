// Package reports renders results (package result's schema) as terminal
// tables, CSV, Markdown and one self-contained HTML page with gonum/plot
// SVGs, and compares two results with bootstrap intervals for regression
// gates. The Markdown and HTML reports open with the methods ranked as the
// run command's table ranks them, and the HTML page sets all methods on
// shared axes (epsilon histograms on one scale, forgetting against utility
// and against time as a fraction of retraining's). It reads and writes no
// result file itself and computes no metric of its own; the one file
// besides its renderings it touches is GitHub's job summary
// (AppendStepSummary).
package reports
