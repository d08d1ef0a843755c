// Package cli is unlearnbench's command line: one file per command (cobra),
// the flags several commands share, exit codes and progress bars. It holds
// no logic another package could reuse; main.go only calls Run.
package cli
