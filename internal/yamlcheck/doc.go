// Package yamlcheck decodes YAML config files (run's and train's) with
// one-line errors: an unknown field, or a value of the wrong kind, names
// the file, the line and the field's dotted path, with the closest valid
// name for a slip, instead of the decoder's lines with Go type names in
// them. It also owns the edit-distance match the command line uses for
// mistyped command names, so that both say "did you mean" alike.
package yamlcheck
