package cli

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newVersionCmd) }

// buildVersion is stamped by the Makefile's build with `git describe`
// (-ldflags "-X unlearnbench/cli.buildVersion=..."), so a binary says which
// commit it was built from; `go build` by hand leaves it empty and the
// version comes from the toolchain's VCS stamp instead.
var buildVersion string

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the Go toolchain it was built with",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, _ := debug.ReadBuildInfo()
			fmt.Fprintln(cmd.OutOrStdout(), versionLine(buildVersion, info))
			return nil
		},
	}
}

// versionLine prefers the stamped git describe, then the module version the
// Go toolchain recorded, then its VCS revision (with "-dirty" for a tree
// with uncommitted changes), and says "(devel)" only when none is known
// (go run, go test).
func versionLine(stamped string, info *debug.BuildInfo) string {
	version, goVersion := stamped, "unknown"
	if info != nil {
		goVersion = info.GoVersion
		if version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			version = info.Main.Version
		}
		if version == "" {
			var rev, modified string
			for _, s := range info.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					modified = s.Value
				}
			}
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if rev != "" {
				version = rev
				if modified == "true" {
					version += "-dirty"
				}
			}
		}
	}
	if version == "" {
		version = "(devel)"
	}
	return fmt.Sprintf("unlearnbench %s (%s)", version, goVersion)
}
