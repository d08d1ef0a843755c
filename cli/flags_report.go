package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"unlearnbench/reports"
)

// The report output every command that produces a result offers.

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
