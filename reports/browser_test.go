package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"unlearnbench/result"
)

// chromiumPath is Debian's Chromium, which scripts/setup.sh installs.
const chromiumPath = "/usr/bin/chromium"

// chromium returns the browser the HTML test runs, failing the test (never
// skipping it) when it is missing, with the command that installs it.
func chromium(t *testing.T) string {
	t.Helper()
	path := chromiumPath
	if p := os.Getenv("UNLEARNBENCH_CHROMIUM"); p != "" {
		path = p
	}
	if _, err := exec.LookPath(path); err != nil {
		t.Fatalf("the HTML report test needs Chromium at %s (%v): install it with `make setup`, or as root: apt-get update && apt-get install -y chromium", path, err)
	}
	return path
}

// pageReport is what the page says about itself, measured in the browser.
type pageReport struct {
	Title    string
	Sections []struct {
		ID      string
		Heading string
		Height  float64
	}
	Plots     []plotInfo
	Absent    []string
	WorstRows int
	// Layout problems measured at the window's width: the page wider
	// than the window, a table's box past its section, a table that does
	// not fit its box (allowed only in a narrow window, where it scrolls
	// in its own box), a plot drawn past its figure or its own canvas,
	// texts of a plot that overlap.
	PageOverflow  float64
	TableOutside  []string
	TableScrolls  []string
	PlotOutside   []string
	PlotClipped   []string
	TextsOverlap  []string
	SummaryRanked bool
}

// plotInfo is one plot as the browser drew it.
type plotInfo struct {
	ID, Caption      string
	SVG              bool
	Width, Height    float64
	Paths, Texts     int
	Coloured         int
	BBoxW, BBoxH     float64
	NonEmptyPathData int
}

// measure runs in the page: sections, and for every plot whether it is an
// SVG, its rendered size, and how many of its paths are drawn in colour (data,
// not the grey axes and grid).
const measure = `(() => {
  const grey = (c) => { const m = c.match(/rgba?\((\d+), (\d+), (\d+)(, ([\d.]+))?\)/); return !m || (m[1] === m[2] && m[2] === m[3]) || m[5] === '0'; };
  const sections = [...document.querySelectorAll('section[data-section]')].map(s => ({
    ID: s.id, Heading: (s.querySelector('h2') || {}).textContent || '', Height: s.getBoundingClientRect().height }));
  const plots = [...document.querySelectorAll('figure.plot')].map(f => {
    const svg = f.querySelector('svg');
    const cap = (f.querySelector('figcaption') || {}).textContent || '';
    if (!svg || !(svg instanceof SVGSVGElement)) return { ID: f.id, Caption: cap, SVG: false };
    const r = svg.getBoundingClientRect(), b = svg.getBBox();
    const paths = [...svg.querySelectorAll('path')];
    const coloured = paths.filter(p => { const s = getComputedStyle(p); return !grey(s.fill) || !grey(s.stroke); }).length;
    return { ID: f.id, Caption: cap, SVG: true, Width: r.width, Height: r.height, Paths: paths.length,
      Texts: svg.querySelectorAll('text').length, Coloured: coloured, BBoxW: b.width, BBoxH: b.height,
      NonEmptyPathData: paths.filter(p => (p.getAttribute('d') || '').length > 2).length };
  });
  const problems = { TableOutside: [], TableScrolls: [], PlotOutside: [], PlotClipped: [], TextsOverlap: [] };
  const where = (el) => { const s = el.closest('section'); return (s ? s.id : '?') + ' ' + (el.closest('figure') || {}).id; };
  document.querySelectorAll('.scroll').forEach((box, i) => {
    const b = box.getBoundingClientRect(), sec = box.closest('section').getBoundingClientRect();
    const name = box.closest('section').id + ' table ' + i + ' (' + [...box.querySelectorAll('th')].slice(0, 3).map(th => th.textContent).join(', ') + ')';
    if (b.left < sec.left - 1 || b.right > sec.right + 1) problems.TableOutside.push(name);
    if (box.scrollWidth > box.clientWidth + 1) problems.TableScrolls.push(name);
  });
  const inter = (a, b) => Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left)) * Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));
  document.querySelectorAll('figure.plot').forEach(f => {
    const svg = f.querySelector('svg'); if (!svg) return;
    const fr = f.getBoundingClientRect(), sr = svg.getBoundingClientRect(), sec = f.closest('section').getBoundingClientRect();
    if (fr.right > sec.right + 1 || sr.right > fr.right + 1) problems.PlotOutside.push(f.id);
    // Clipped: a text (a label, a legend) or the drawing as a whole past
    // the canvas, beyond the half width of a line.
    const sb = svg.getBoundingClientRect(), slack = 2.5 * sb.width / svg.viewBox.baseVal.width;
    const outside = (r) => r.left < sb.left - slack || r.top < sb.top - slack || r.right > sb.right + slack || r.bottom > sb.bottom + slack;
    const all = [...svg.querySelectorAll('path, text')].map(e => e.getBoundingClientRect()).filter(r => r.width > 0 || r.height > 0);
    if (all.some(outside)) problems.PlotClipped.push(f.id);
    // A text's box includes the font's leading; its inner 60% is ink.
    const ink = (r) => ({ left: r.left, right: r.right, top: r.top + 0.2 * r.height, bottom: r.bottom - 0.2 * r.height, width: r.width, height: 0.6 * r.height });
    const texts = [...svg.querySelectorAll('text')].filter(t => t.textContent.trim() !== '').map(t => ({ t: t.textContent, r: ink(t.getBoundingClientRect()) }));
    for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++) {
      const a = texts[i].r, b = texts[j].r;
      if (inter(a, b) > 0.15 * Math.min(a.width * a.height, b.width * b.height)) problems.TextsOverlap.push(f.id + ': "' + texts[i].t + '" and "' + texts[j].t + '"');
    }
  });
  const ranks = [...document.querySelectorAll('#summary table')][0];
  const rankCells = ranks ? [...ranks.tBodies[0].rows].map(r => r.cells[0].textContent) : [];
  return { Title: document.title, Sections: sections, Plots: plots, ...problems,
    PageOverflow: document.documentElement.scrollWidth - window.innerWidth,
    SummaryRanked: rankCells.length > 0 && rankCells.every((c, i) => c === String(i + 1)),
    Absent: [...document.querySelectorAll('.absent')].map(p => p.textContent),
    WorstRows: document.querySelectorAll('#examples table').length ? document.querySelector('#examples table tbody').rows.length : 0 };
})()`

// TestHTMLReportInChromium opens the reports in real headless Chromium and
// checks that each loads without an error or a network request, shows every
// section, and draws every plot as an SVG with coloured marks in it. A
// screenshot of each page is written under the test's temporary directory.
func TestHTMLReportInChromium(t *testing.T) {
	exe := chromium(t)
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1200, 900))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if _, err := chromedp.Run(browserCtx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	// twelve is full.json's methods repeated to twelve, every copy with the
	// same scores and times: the worst case for the labels of the
	// trade-off plots, which must still not overlap.
	twelve := func(t *testing.T) *result.Result {
		r := readFixture(t, "full.json")
		var ms []result.Method
		for k := range 6 {
			for _, m := range r.Methods {
				m.Name = fmt.Sprintf("%s-%d", m.Name, k)
				ms = append(ms, m)
			}
		}
		r.Methods = ms
		return r
	}
	fixture := func(name string) func(t *testing.T) *result.Result {
		return func(t *testing.T) *result.Result { return readFixture(t, name) }
	}
	for _, c := range []struct {
		name          string
		result        func(t *testing.T) *result.Result
		plots         []string // id prefixes every one of which must be drawn
		absent        int
		worstRows     int
		distributions int
	}{
		{"full.json", fixture("full.json"), []string{"epsilon-multiples", "utility-plot", "time-plot", "method-0-example-", "method-0-roc", "method-0-roc-loglog", "accuracy-plot", "method-0-klom", "method-1-klom"}, 0, ReportWorst, 10},
		{"minimal.json", fixture("minimal.json"), []string{"epsilon-multiples"}, minimalAbsent, ReportWorst, 0},
		{"twelve methods", twelve, []string{"epsilon-multiples", "utility-plot", "time-plot", "accuracy-plot"}, 0, ReportWorst, 60},
	} {
		// A desktop window, where every table must fit its box, and a
		// narrow one, where a table may scroll inside its own box.
		for _, width := range []int64{1280, 640} {
			t.Run(fmt.Sprintf("%s/%dpx", c.name, width), func(t *testing.T) {
				checkReportInBrowser(t, browserCtx, c.result(t), width, c.name, c.plots, c.absent, c.worstRows, c.distributions)
			})
		}
	}
}

// checkReportInBrowser renders r and checks the page at the window width.
// minimalAbsent is how many "not drawn" notes minimal.json's page has.
const minimalAbsent = 8

func checkReportInBrowser(t *testing.T, browserCtx context.Context, r *result.Result, width int64, name string, plots []string, absent, worstRows, distributions int) {
	dir := t.TempDir()
	if _, err := WriteDir(r, dir); err != nil {
		t.Fatal(err)
	}
	c := struct {
		fixture       string
		plots         []string
		absent        int
		worstRows     int
		distributions int
	}{name, plots, absent, worstRows, distributions}
	{
		{
			page := "file://" + filepath.Join(dir, HTMLFile)
			ctx, cancel := chromedp.NewContext(browserCtx)
			defer cancel()
			ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
			defer cancelTimeout()

			var mu sync.Mutex
			var problems []string
			report := func(format string, args ...any) {
				mu.Lock()
				problems = append(problems, fmt.Sprintf(format, args...))
				mu.Unlock()
			}
			console := chromedp.Console(ctx)
			requests := chromedp.Events(ctx, network.RequestWillBeSent)
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				for m, err := range console {
					if err != nil {
						return
					}
					if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleWarning {
						report("console %s", m)
					}
				}
			}()
			go func() {
				defer wg.Done()
				for ev, err := range requests {
					if err != nil {
						return
					}
					if ev.Request.URL != page {
						report("network request to %s: the report must be self-contained", ev.Request.URL)
					}
				}
			}()

			if _, err := chromedp.Run(ctx, chromedp.EmulateViewport(width, 900)); err != nil {
				t.Fatal(err)
			}
			if _, err := chromedp.Run(ctx, chromedp.Navigate(page)); err != nil {
				t.Fatalf("loading %s: %v", page, err)
			}
			raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](measure))
			if err != nil {
				t.Fatal(err)
			}
			shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			png := filepath.Join(dir, "report.png")
			if err := os.WriteFile(png, shot, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot: %s (%d bytes)", png, len(shot))
			// UNLEARNBENCH_SCREENSHOTS=DIR keeps the page and its screenshot
			// for a person to look at.
			if keep := os.Getenv("UNLEARNBENCH_SCREENSHOTS"); keep != "" {
				name := fmt.Sprintf("%s-%dpx", strings.ReplaceAll(strings.TrimSuffix(c.fixture, ".json"), " ", "-"), width)
				if _, err := WriteDir(r, filepath.Join(keep, name)); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(keep, name, "report.png"), shot, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cancelTimeout()
			wg.Wait()
			for _, p := range problems {
				t.Error(p)
			}

			var got pageReport
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("%v: %s", err, raw)
			}
			if got.Title != "unlearnbench report" {
				t.Errorf("title %q", got.Title)
			}
			var ids []string
			for _, s := range got.Sections {
				ids = append(ids, s.ID)
				if s.Heading == "" || s.Height <= 0 {
					t.Errorf("section %s: heading %q, height %v", s.ID, s.Heading, s.Height)
				}
			}
			if !slices.Equal(ids, SectionIDs()) {
				t.Errorf("sections %v, want %v", ids, SectionIDs())
			}
			for _, p := range got.Plots {
				if !p.SVG || p.Width < 100 || p.Height < 100 || p.BBoxW <= 0 || p.BBoxH <= 0 || p.NonEmptyPathData < 5 || p.Texts < 3 || p.Coloured < 1 {
					t.Errorf("plot %s is not an SVG with drawn content: %+v", p.ID, p)
				}
			}
			for _, prefix := range c.plots {
				if !slices.ContainsFunc(got.Plots, func(p plotInfo) bool { return strings.HasPrefix(p.ID, prefix) }) {
					t.Errorf("no plot %s*", prefix)
				}
			}
			dist := 0
			for _, p := range got.Plots {
				if strings.Contains(p.ID, "-example-") {
					dist++
				}
			}
			if dist != c.distributions {
				t.Errorf("%d distribution plots, want %d", dist, c.distributions)
			}
			if len(got.Absent) != c.absent {
				t.Errorf("%d notes of absent plots, want %d: %q", len(got.Absent), c.absent, got.Absent)
			}
			if got.WorstRows != c.worstRows {
				t.Errorf("the worst-examples table has %d rows, want %d", got.WorstRows, c.worstRows)
			}
			if got.PageOverflow > 1 {
				t.Errorf("the page is %v px wider than the %d px window", got.PageOverflow, width)
			}
			for _, p := range got.TableOutside {
				t.Errorf("%s reaches past its section", p)
			}
			if width >= 1280 {
				for _, p := range got.TableScrolls {
					t.Errorf("%s does not fit its box at %d px", p, width)
				}
			}
			for _, p := range got.PlotOutside {
				t.Errorf("plot %s reaches past its figure or section", p)
			}
			for _, p := range got.PlotClipped {
				t.Errorf("plot %s draws past its canvas (clipped)", p)
			}
			for _, p := range got.TextsOverlap {
				t.Errorf("texts overlap in plot %s", p)
			}
			if !got.SummaryRanked {
				t.Error("the summary's first column is not the rank 1, 2, ...")
			}
		}
	}
}
