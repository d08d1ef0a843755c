package unlearners

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// The exec method's command line: split into words as a shell does, its
// {placeholders} checked against ExecVars.

func checkCommand(v any) error {
	_, err := parseCommand(v.(string))
	return err
}

// placeholderRE matches what the command line may use as a placeholder;
// other braces ("{print $1}", "${HOME}") are left alone.
var placeholderRE = regexp.MustCompile(`\{([a-z][a-z0-9_]*)\}`)

// parseCommand splits a command line into words and checks its
// placeholders.
func parseCommand(line string) ([]string, error) {
	words, err := splitWords(line)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("want a program and its arguments, such as python3 unlearn.py {model} {out}")
	}
	for _, w := range words {
		for _, m := range placeholderRE.FindAllStringSubmatch(w, -1) {
			if !slices.ContainsFunc(ExecVars, func(v ExecVar) bool { return v.Placeholder == m[1] }) {
				var names []string
				for _, v := range ExecVars {
					names = append(names, "{"+v.Placeholder+"}")
				}
				return nil, fmt.Errorf("unknown placeholder %s (known: %s)", m[0], strings.Join(names, " "))
			}
		}
	}
	return words, nil
}

// splitWords splits line into words as a POSIX shell does, without
// expanding anything: blanks separate words, single quotes keep
// everything literally, double quotes keep everything but \" \\ \$ \`,
// a backslash outside quotes escapes the next character.
func splitWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' at character %d", i+1)
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' && j+1 < len(line) && strings.IndexByte("\"\\$`", line[j+1]) >= 0 {
					j++
				}
				cur.WriteByte(line[j])
			}
			if j >= len(line) {
				return nil, fmt.Errorf("unterminated \" at character %d", i+1)
			}
			i = j
			inWord = true
		case c == '\\':
			if i+1 >= len(line) {
				return nil, fmt.Errorf("a lone \\ ends the command line")
			}
			i++
			cur.WriteByte(line[i])
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
