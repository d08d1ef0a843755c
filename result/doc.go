// Package result owns unlearnbench's versioned JSON result schema: the
// types a result file holds (a run's methods, their scores, populations,
// attacks and kept distributions), the one reader and writer of those
// files, the checks that refuse a hand-edited or inconsistent file naming
// its field, the forget-set digests that tell two results' forget sets
// apart, the one ranking of methods that every table and report shows
// (rank.go), and the neighbours in it whose F intervals overlap
// (interval.go). It renders nothing: package reports draws results, and the
// computing packages (evaluate, attack/suite) fill these types without
// pulling in the renderers' plotting and templates.
package result
