package datasets

import (
	"fmt"

	"unlearnbench/internal/usererr"
)

// FormatError says where a data file stopped being what its format promises:
// the file, the byte offset (in the decompressed stream for gzipped files),
// the field or part being read, and what was wrong.
type FormatError struct {
	File   string
	Offset int64
	Field  string
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s: offset %d: %s: %s", e.File, e.Offset, e.Field, e.Msg)
}

// formatErr builds a FormatError marked as the user's (the file is theirs).
func formatErr(file string, off int64, field, format string, args ...any) error {
	return usererr.Wrap(&FormatError{File: file, Offset: off, Field: field, Msg: fmt.Sprintf(format, args...)})
}
