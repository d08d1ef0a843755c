package reports

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"unlearnbench/result"
)

// checkGolden compares got with testdata/golden/name, or rewrites it with
// -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./reports -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the renderer writes (go test ./reports -update rewrites it after review):\n%s", path, firstDiff(string(want), string(got)))
	}
}

// firstDiff shows the first line that differs.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\nwant: " + a + "\ngot:  " + b
		}
	}
	return "(same lines, different bytes)"
}

// svgElement matches one inline SVG plot.
var svgElement = regexp.MustCompile(`(?s)<svg role="img"[^>]*>.*?</svg>`)

// htmlSkeleton replaces each plot's SVG by a count of what it draws, so
// that the golden HTML shows the page's structure and text without pinning
// every coordinate gonum/plot writes (the browser test checks the plots).
func htmlSkeleton(html []byte) []byte {
	return svgElement.ReplaceAllFunc(html, func(svg []byte) []byte {
		open := svg[:bytes.IndexByte(svg, '>')+1]
		return []byte(string(open) + "[" + strconv.Itoa(bytes.Count(svg, []byte("<path"))) + " paths, " + strconv.Itoa(bytes.Count(svg, []byte("<text"))) + " texts]</svg>")
	})
}

func render(t *testing.T, r *result.Result, write func(io.Writer, *result.Result) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := write(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestGoldenRenderings(t *testing.T) {
	for _, name := range []string{"full", "minimal"} {
		r := readFixture(t, name+".json")
		checkGolden(t, name+".table", render(t, r, WriteSummary))
		checkGolden(t, name+".md", render(t, r, WriteMarkdown))
		checkGolden(t, name+".methods.csv", render(t, r, WriteMethodsCSV))
		checkGolden(t, name+".examples.csv", render(t, r, WriteExamplesCSV))
		checkGolden(t, name+".attacks.csv", render(t, r, WriteAttacksCSV))
		checkGolden(t, name+".html.skeleton", htmlSkeleton(render(t, r, WriteHTML)))
		checkGolden(t, name+".score.table", render(t, r, func(w io.Writer, r *result.Result) error { return WriteScore(w, &r.Methods[0], 5) }))
	}
}

func TestGoldenCompare(t *testing.T) {
	base, cur := readFixture(t, "full.json"), readFixture(t, "regressed.json")
	c, err := Compare("full.json", base, "regressed.json", cur, DefaultCompareOptions)
	if err != nil {
		t.Fatal(err)
	}
	var tb, md bytes.Buffer
	if err := c.WriteTable(&tb); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "compare.table", tb.Bytes())
	checkGolden(t, "compare.md", md.Bytes())
}

// Rendering the same result twice gives the same bytes, HTML included.
func TestRenderingIsDeterministic(t *testing.T) {
	r := readFixture(t, "full.json")
	a, b := render(t, r, WriteHTML), render(t, r, WriteHTML)
	if !bytes.Equal(a, b) {
		t.Fatal("two renderings of one result differ")
	}
}
