package cli

import (
	"github.com/spf13/cobra"

	"unlearnbench/internal/usererr"
	"unlearnbench/reports"
	"unlearnbench/result"
)

func init() { subcommands = append(subcommands, newReportCmd) }

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
			if err := checkResultOutputs("", "--out", out); err != nil {
				return err
			}
			result, err := result.Read(args[0])
			if err != nil {
				return err
			}
			if err := reports.WriteSummary(cmd.OutOrStdout(), result); err != nil {
				return err
			}
			return writeResult(cmd, result, "", out)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to write the report into (created if needed)")
	return cmd
}
