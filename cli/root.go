package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"unlearnbench/internal/usererr"
	"unlearnbench/internal/yamlcheck"
)

// Exit codes shared by every command.
const (
	exitOK         = 0
	exitInternal   = 1
	exitUser       = 2
	exitRegression = 3
	// exitIncomplete is a run whose members partly failed: everything
	// else is computed, scored and written, and a rerun computes only the
	// failed members.
	exitIncomplete = 4
	// exitInterrupted is the shell's code for a command ended by SIGINT
	// (128 + 2), which train returns after stopping cleanly on a signal.
	exitInterrupted = 130
)

// subcommands holds one constructor per command; each cmd_*.go file appends
// its own in init, so that adding a command touches no other file. The tree is
// rebuilt for every invocation so that flag values never leak between runs
// (the README test runs many commands in one process).
var subcommands []func() *cobra.Command

// exitCodeError carries an exit code other than the default for its error
// (compare uses it for a regression).
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string { return e.err.Error() }
func (e *exitCodeError) Unwrap() error { return e.err }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "unlearnbench",
		Short: "Membership-inference evaluation of machine unlearning, scored as in the NeurIPS 2023 competition",
		Long: `unlearnbench tells whether a population of unlearned models can be told
apart from a population retrained without the forget set, and scores the
answer exactly as the NeurIPS 2023 Machine Unlearning competition did.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usererr.Wrap(plainFlagError(cmd, err))
	})
	for _, mk := range subcommands {
		root.AddCommand(mk())
	}
	refuseContradictingFlags(root)
	return root
}

// Run executes one command line and returns its exit code; errors are printed
// as one line on stderr.
func Run(args []string, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdout, stderr)
}

// run is Run, the name the package's tests use.
func run(args []string, stdout, stderr io.Writer) int { return Run(args, stdout, stderr) }

// runContext is run with a context that commands see as cmd.Context(), so
// that tests can interrupt a command without sending signals.
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	if err := checkCommandName(root, args); err != nil {
		fmt.Fprintf(stderr, "unlearnbench: %v\n", err)
		return exitUser
	}
	root.SetArgs(expandFileLists(args))
	out := &errWriter{w: stdout}
	root.SetOut(out)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil && out.err != nil {
		err = usererr.Wrap(fmt.Errorf("writing to standard output: %w", out.err))
	}
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "unlearnbench: %v\n", err)
	var ec *exitCodeError
	switch {
	case errors.As(err, &ec):
		return ec.code
	case usererr.Is(err), isCobraUsageError(err), isStorageError(err):
		return exitUser
	default:
		return exitInternal
	}
}

// checkCommandName refuses a command name that is not one, in one line with
// the closest command, where cobra prints five lines of suggestions.
func checkCommandName(root *cobra.Command, args []string) error {
	if len(args) > 1 && args[0] == "help" {
		// "help NAME" names a command too; cobra answers exit 0.
		args = args[1:]
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return nil
	}
	// help and completion are cobra's own; __complete* serve the shell
	// completion scripts.
	names := []string{"help", "completion"}
	for _, c := range root.Commands() {
		names = append(names, c.Name())
		names = append(names, c.Aliases...)
	}
	if slices.Contains(names, args[0]) || strings.HasPrefix(args[0], "__complete") {
		return nil
	}
	slices.Sort(names)
	if c := yamlcheck.ClosestName(args[0], names); c != "" {
		return usererr.Errorf("unknown command %q; did you mean %q? (unlearnbench --help lists the commands)", args[0], c)
	}
	return usererr.Errorf("unknown command %q; the commands are %s", args[0], strings.Join(names, ", "))
}

// invalidFlagRE matches pflag's message for a value it cannot parse.
var invalidFlagRE = regexp.MustCompile(`^invalid argument "(.*)" for "(?:-\w, )?--([\w-]+)" flag: `)

// plainFlagError says what a flag wants instead of pflag's "invalid
// argument ... strconv.ParseFloat: parsing ...: invalid syntax".
func plainFlagError(cmd *cobra.Command, err error) error {
	if e := twiceError(err); e != nil {
		return e
	}
	m := invalidFlagRE.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	fl := cmd.Flags().Lookup(m[2])
	if fl == nil {
		return err
	}
	want := map[string]string{
		"int": "an integer", "uint64": "an integer >= 0", "float64": "a number",
		"bool": "true or false", "duration": "a duration like 30s",
	}[fl.Value.Type()]
	if want == "" {
		return err
	}
	return fmt.Errorf("--%s %q: want %s", m[2], m[1], want)
}

// isCobraUsageError recognises cobra's own argument errors (unknown command,
// wrong number of arguments), which it does not type.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "requires at most", "required flag"} {
		if len(msg) >= len(prefix) && msg[:len(prefix)] == prefix {
			return true
		}
	}
	return false
}

// isStorageError reports an error of the storage the user chose: a full
// disk or quota, a read-only file system, a file too large, a permission
// refused. It is the user's to fix, so it exits 2 like every output that
// cannot be written, and its message names the file.
func isStorageError(err error) bool {
	for _, e := range []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.EFBIG, fs.ErrPermission} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
