package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"unlearnbench/internal/usererr"
	"unlearnbench/unlearners"
)

func init() { subcommands = append(subcommands, newMethodsCmd) }

func newMethodsCmd() *cobra.Command {
	var markdown bool
	cmd := &cobra.Command{
		Use:   "methods [NAME...]",
		Short: "List the unlearning methods with their parameters, defaults and sources",
		Long: `List every unlearning method unlearn can run (or the ones named), what it
does, its source, and each of its parameters with its default, meaning and
where the default comes from. unlearn's --param KEY=VALUE and --params
FILE.yaml set them; a parameter not given takes its default.

--markdown prints the one table of every parameter that docs/methods.md
holds.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			specs, err := methodSpecs(args)
			if err != nil {
				return err
			}
			if markdown {
				return writeMethodsMarkdown(cmd.OutOrStdout(), specs)
			}
			return writeMethods(cmd.OutOrStdout(), specs)
		},
	}
	cmd.Flags().BoolVar(&markdown, "markdown", false, "print one Markdown table of every parameter (docs/methods.md)")
	return cmd
}

// methodSpecs returns the named methods, or all of them, sorted by name.
func methodSpecs(names []string) ([]*unlearners.Spec, error) {
	if len(names) == 0 {
		names = unlearners.Names()
	}
	var out []*unlearners.Spec
	for _, n := range names {
		s, ok := unlearners.Lookup(n)
		if !ok {
			return nil, usererr.Errorf("unknown method %q: want one of %s", n, strings.Join(unlearners.Names(), ", "))
		}
		out = append(out, s)
	}
	return out, nil
}

// formatDefault writes a default as a YAML value would be written.
func formatDefault(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

func writeMethods(w io.Writer, specs []*unlearners.Spec) error {
	for i, s := range specs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s: %s\n", s.Name, s.Summary)
		fmt.Fprintf(w, "  source: %s\n", s.Source)
		if s.NeedsForget {
			fmt.Fprintln(w, "  reads the forget set (an empty one is an error)")
		}
		if len(s.Params) == 0 {
			fmt.Fprintln(w, "  no parameters")
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, p := range s.Params {
			src := ""
			if p.Source != "" {
				src = " [" + p.Source + "]"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s%s\n", p.Key, formatDefault(p.Default), p.Meaning, src)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// writeMethodsMarkdown prints one table of every parameter of every
// method: method, parameter, default, meaning, source.
func writeMethodsMarkdown(w io.Writer, specs []*unlearners.Spec) error {
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	fmt.Fprintln(w, "| method | parameter | default | meaning | source |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- |")
	for _, s := range specs {
		if len(s.Params) == 0 {
			fmt.Fprintf(w, "| `%s` | | | %s (no parameters) | %s |\n", s.Name, esc(s.Summary), esc(s.Source))
			continue
		}
		for _, p := range s.Params {
			src := p.Source
			if src == "" {
				src = s.Source
			}
			fmt.Fprintf(w, "| `%s` | `%s` | `%s` | %s | %s |\n", s.Name, p.Key, formatDefault(p.Default), esc(p.Meaning), esc(src))
		}
	}
	return nil
}
