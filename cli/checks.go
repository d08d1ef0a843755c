package cli

import (
	"fmt"
	"math"
	"strings"
	"unicode"

	"unlearnbench/internal/usererr"
)

// Checks of flag and config values that several commands share.

// floatRange is the range a float setting accepts; hi = +Inf means no upper
// bound. Every range excludes NaN and the infinities.
type floatRange struct {
	lo, hi         float64
	loOpen, hiOpen bool
}

var (
	positive    = floatRange{lo: 0, hi: math.Inf(1), loOpen: true}
	nonNegative = floatRange{lo: 0, hi: math.Inf(1)}
	unitOpen    = floatRange{lo: 0, hi: 1, loOpen: true, hiOpen: true} // (0, 1)
	unitHalf    = floatRange{lo: 0, hi: 1, hiOpen: true}               // [0, 1)
)

// finite reports whether v is neither NaN nor an infinity.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func (r floatRange) contains(v float64) bool {
	if !finite(v) {
		return false
	}
	above := v > r.lo || (!r.loOpen && v == r.lo)
	below := math.IsInf(r.hi, 1) || v < r.hi || (!r.hiOpen && v == r.hi)
	return above && below
}

func (r floatRange) String() string {
	if math.IsInf(r.hi, 1) {
		if r.loOpen {
			return fmt.Sprintf("> %g", r.lo)
		}
		return fmt.Sprintf(">= %g", r.lo)
	}
	open, closed := "[", "]"
	if r.loOpen {
		open = "("
	}
	if r.hiOpen {
		closed = ")"
	}
	return fmt.Sprintf("in %s%g, %g%s", open, r.lo, r.hi, closed)
}

// checkFloat refuses a value outside r (NaN and infinities included) as a
// user error naming the setting: a flag ("--lr") or a config field.
func checkFloat(name string, v float64, r floatRange) error {
	if r.contains(v) {
		return nil
	}
	return usererr.Errorf("%s is %v; want a finite number %s", name, v, r)
}

// checkMethodName refuses an empty --method before any work: the name
// labels every table and the result, which cannot hold a nameless method.
func checkMethodName(name string) error {
	if strings.TrimSpace(name) == "" {
		return usererr.Errorf("--method is empty; name the unlearning method (it labels tables and the result)")
	}
	// A newline or an escape sequence would garble every table and report.
	if strings.ContainsFunc(name, unicode.IsControl) {
		return usererr.Errorf("--method %q: holds a control character; want a printable name", name)
	}
	return nil
}

// checkWorkers refuses a negative --workers, which the pools took for 0
// (one per core) without a word.
func checkWorkers(n int) error {
	if n < 0 {
		return usererr.Errorf("--workers is %d; want 0 (one per core) or more", n)
	}
	return nil
}
