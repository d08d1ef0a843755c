package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"unlearnbench/reports"
	"unlearnbench/result"
)

// The outputs of the commands that produce a result: --json, --report and
// $GITHUB_STEP_SUMMARY.

// addReportFlag gives a command that produces a result the --report flag;
// the command then checks it with checkResultOutputs before any work and
// ends with writeResult.
func addReportFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "report", "", "also write report.md, report.html and CSV files of the result into this directory")
}

// reportFiles are the files a report directory receives.
var reportFiles = []string{reports.MarkdownFile, reports.HTMLFile, reports.MethodsCSV, reports.ExamplesCSV, reports.AttacksCSV}

// checkResultOutputs checks, before any work, that a result can be written
// to jsonOut (a file, "" for none), to the report directory dir ("" for
// none) and to $GITHUB_STEP_SUMMARY; reportFlag names the directory's flag.
func checkResultOutputs(jsonOut, reportFlag, dir string) error {
	outs := []output{{flag: "--json", path: jsonOut}, {flag: reportFlag, path: dir, dir: true}}
	if dir != "" {
		for _, f := range reportFiles {
			outs = append(outs, output{flag: reportFlag, path: filepath.Join(dir, f)})
		}
	}
	if summary := os.Getenv("GITHUB_STEP_SUMMARY"); summary != "" && dir != "" {
		outs = append(outs, output{flag: "$GITHUB_STEP_SUMMARY", path: summary})
	}
	return checkOutputs(outs...)
}

// writeResult writes res to jsonOut and renders it into dir (either may
// be ""), all or none: when the second write fails, what the first wrote is
// removed. It then lists the report's files and appends the Markdown report
// to $GITHUB_STEP_SUMMARY when GitHub Actions sets it.
func writeResult(cmd *cobra.Command, res *result.Result, jsonOut, dir string) error {
	var files []string
	if dir != "" {
		_, statErr := os.Stat(dir)
		created := errors.Is(statErr, fs.ErrNotExist)
		var err error
		files, err = reports.WriteDir(res, dir)
		undo := func() {
			for _, f := range files {
				os.Remove(f)
			}
			if created {
				os.Remove(dir) // only if empty
			}
		}
		if err != nil {
			undo()
			return err
		}
		if jsonOut != "" {
			if err := res.Write(jsonOut); err != nil {
				undo()
				return err
			}
		}
	} else if jsonOut != "" {
		if err := res.Write(jsonOut); err != nil {
			return err
		}
	}
	for _, f := range files {
		fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", f)
	}
	if dir != "" {
		return reports.AppendStepSummary(res)
	}
	return nil
}
