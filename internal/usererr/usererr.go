// Package usererr marks errors caused by the user's input (a bad file, flag,
// value or config) so that the command line can tell them from internal
// failures: user errors exit 2, everything else exits 1.
package usererr

import (
	"errors"
	"fmt"
)

// Error wraps an error that the user can fix by changing their input.
type Error struct{ Err error }

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Wrap marks err as the user's; nil stays nil.
func Wrap(err error) error {
	if err == nil {
		return nil
	}
	var ue *Error
	if errors.As(err, &ue) {
		return err
	}
	return &Error{Err: err}
}

// Errorf is fmt.Errorf marked as a user error.
func Errorf(format string, args ...any) error {
	return &Error{Err: fmt.Errorf(format, args...)}
}

// Is reports whether err, or anything it wraps, is a user error.
func Is(err error) bool {
	var ue *Error
	return errors.As(err, &ue)
}
