package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// A flag that takes one value and is given twice with two different values
// used to keep the last one silently (`--lr 0.1 ... --lr 0.01`, a script
// appending to a command line): onceValue makes that an error, for every
// command's flags at once. Repeating the same value is harmless and
// accepted; list flags (--param, --set, --forget-classes) accumulate and
// are left alone.

// twiceMarker starts onceValue's error, which pflag wraps in its own
// "invalid argument" line; plainFlagError recognises it.
const twiceMarker = "given twice with different values"

type onceValue struct {
	pflag.Value
	name string
	// first is the first value as given and as the flag holds it (its
	// String): "1e-1" and "0.1" are one value, and train re-applies
	// given flags by their String after reading its config.
	first, held *string
}

func (v *onceValue) Set(s string) error {
	if v.held == nil {
		if err := v.Value.Set(s); err != nil {
			return err
		}
		held := v.Value.String()
		v.first, v.held = &s, &held
		return nil
	}
	if err := v.Value.Set(s); err != nil {
		return err
	}
	if now := v.Value.String(); now != *v.held {
		_ = v.Value.Set(*v.held) // back to the first value; it parsed before
		return fmt.Errorf("--%s %s: %q, then %q; give it once", v.name, twiceMarker, *v.first, s)
	}
	return nil
}

// accumulates reports whether a flag's values add up rather than replace
// each other.
func accumulates(f *pflag.Flag) bool {
	t := f.Value.Type()
	return strings.HasSuffix(t, "Slice") || strings.HasSuffix(t, "Array") || t == "count"
}

// refuseContradictingFlags wraps every single-valued flag of cmd and its
// subcommands in a onceValue.
func refuseContradictingFlags(cmd *cobra.Command) {
	wrap := func(f *pflag.Flag) {
		if _, done := f.Value.(*onceValue); !done && !accumulates(f) {
			f.Value = &onceValue{Value: f.Value, name: f.Name}
		}
	}
	cmd.Flags().VisitAll(wrap)
	cmd.PersistentFlags().VisitAll(wrap)
	for _, c := range cmd.Commands() {
		refuseContradictingFlags(c)
	}
}

// twiceError finds onceValue's message in pflag's error.
func twiceError(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, " flag: --"); i >= 0 && strings.Contains(msg[i:], twiceMarker) {
		return fmt.Errorf("%s", msg[i+len(" flag: "):])
	}
	return nil
}
