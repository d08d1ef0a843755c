package reports

import (
	"regexp"
	"slices"
	"strings"

	"unlearnbench/result"
)

// warningGroup is one kind of warning: the messages that differ only in
// their numbers (and in the method or attack that gave them).
type warningGroup struct {
	Example string   // the first message of the kind
	Count   int      // how many messages
	Sources []string // the methods that gave them, in order
	Items   []string // every message with its source
}

// numbers matches the numbers in a warning, which vary within a kind.
var numbers = regexp.MustCompile(`[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?`)

// groupWarnings groups r's warnings by kind, the most frequent kind first
// (ties in order of first appearance): a run of a dozen methods gives
// hundreds of warnings of a handful of kinds, which a flat list buries.
func groupWarnings(r *result.Result) []warningGroup {
	var groups []*warningGroup
	byKey := map[string]*warningGroup{}
	add := func(method, source, text string) {
		key := numbers.ReplaceAllString(text, "#")
		grp := byKey[key]
		if grp == nil {
			grp = &warningGroup{Example: text}
			byKey[key] = grp
			groups = append(groups, grp)
		}
		grp.Count++
		line := text
		if source != "" {
			line = source + ": " + text
			if !slices.Contains(grp.Sources, method) {
				grp.Sources = append(grp.Sources, method)
			}
		}
		grp.Items = append(grp.Items, line)
	}
	for _, w := range r.Warnings {
		add("", "", w)
	}
	for _, m := range r.Methods {
		for _, w := range m.Warnings {
			add(m.Name, m.Name, w)
		}
		for _, a := range m.Attacks {
			for _, w := range a.Warnings {
				add(m.Name, m.Name+", attack "+a.Name, w)
			}
		}
	}
	slices.SortStableFunc(groups, func(a, b *warningGroup) int { return b.Count - a.Count })
	out := make([]warningGroup, len(groups))
	for i, grp := range groups {
		out[i] = *grp
	}
	return out
}

// SourcesText lists a group's sources, shortened past a few.
func (g warningGroup) SourcesText() string {
	const shown = 6
	if len(g.Sources) <= shown {
		return strings.Join(g.Sources, ", ")
	}
	return strings.Join(g.Sources[:shown], ", ") + ", ..."
}
