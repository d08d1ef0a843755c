package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"unlearnbench/internal/usererr"
	"unlearnbench/reports"
)

func init() { subcommands = append(subcommands, newReportCmd) }

// addReportFlag gives a command that produces a result the --report flag;
// the command then ends with writeReport(cmd, result, dir).
func addReportFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "report", "", "also write report.md, report.html and CSV files of the result into this directory")
}

// writeReport renders result into dir (nothing when dir is ""), lists the
// files written, and appends the Markdown report to $GITHUB_STEP_SUMMARY
// when GitHub Actions sets it.
func writeReport(cmd *cobra.Command, result *reports.Result, dir string) error {
	if dir == "" {
		return nil
	}
	files, err := reports.WriteDir(result, dir)
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", f)
	}
	if summary := os.Getenv("GITHUB_STEP_SUMMARY"); summary != "" {
		if err := reports.AppendMarkdown(summary, result); err != nil {
			return err
		}
	}
	return nil
}

func newReportCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "report RESULT.json --out DIR",
		Short: "Render a saved result as Markdown, a self-contained HTML page with plots, and CSV",
		Long: `report renders a result file (written by score --json, or any command's
--json) into DIR: report.md (GitHub-flavoured Markdown), report.html (one
self-contained page with the plots as inline SVG, readable offline), and
methods.csv, examples.csv and attacks.csv. It prints the methods' summary.
When $GITHUB_STEP_SUMMARY is set, the Markdown is appended to it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usererr.Errorf("--out is required: the directory to write the report into")
			}
			result, err := reports.Read(args[0])
			if err != nil {
				return err
			}
			if err := reports.WriteSummary(cmd.OutOrStdout(), result); err != nil {
				return err
			}
			return writeReport(cmd, result, out)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to write the report into (created if needed)")
	return cmd
}
