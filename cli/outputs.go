package cli

import (
	"io"

	"unlearnbench/internal/outpath"
)

// Checks of output paths before any work, and standard output's write
// errors.

// output is one path a command will write: a file, or a directory it fills
// with files (dir), named by its flag for messages.
type output struct {
	flag string
	path string
	dir  bool
}

// checkOutputs refuses, before any input is read or model trained, an output
// that cannot be written (outpath.Check says which).
func checkOutputs(outs ...output) error {
	o := make([]outpath.Output, len(outs))
	for i, x := range outs {
		o[i] = outpath.Output{Name: x.flag, Path: x.path, Dir: x.dir}
	}
	return outpath.Check(o...)
}

// errWriter remembers the first write error of standard output, so that a
// command whose output was lost (a full disk; a closed pipe ends the
// process with SIGPIPE, as for any Unix tool) does not exit 0.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}
