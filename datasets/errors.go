package datasets

import (
	"fmt"

	"unlearnbench/internal/arrays"
	"unlearnbench/internal/usererr"
)

// FormatError says where a data file stopped being what its format promises:
// the file, the byte offset (in the decompressed stream for gzipped files),
// the field or part being read, and what was wrong. It is the arrays
// package's type, so that one errors.As finds a bad .npy array and a bad
// data file alike.
type FormatError = arrays.FormatError

// formatErr builds a FormatError marked as the user's (the file is theirs).
func formatErr(file string, off int64, field, format string, args ...any) error {
	return usererr.Wrap(&FormatError{File: file, Offset: off, Field: field, Msg: fmt.Sprintf(format, args...)})
}
