package reports

import (
	"bytes"
	"fmt"
	"html"
	"image/color"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"unlearnbench/result"
	"unlearnbench/scoring"
)

// The plots that set all methods side by side on shared axes: the epsilon
// histograms as small multiples on one scale, forgetting against utility,
// and forgetting against time as a fraction of retraining's.

// svgDrawing renders whatever drawTo draws on a w × h canvas as an inline
// SVG figure (svgFigure draws one plot through it).
func svgDrawing(id, caption string, w, h vg.Length, drawTo func(dc draw.Canvas) error) (figure, error) {
	c := vgsvg.New(w, h)
	if err := drawTo(draw.New(c)); err != nil {
		return figure{}, fmt.Errorf("drawing plot %s: %w", id, err)
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return figure{}, fmt.Errorf("drawing plot %s: %w", id, err)
	}
	s := buf.String()
	start := strings.Index(s, "<svg")
	if start < 0 {
		return figure{}, fmt.Errorf("drawing plot %s: no <svg> element in the output", id)
	}
	s = `<svg role="img" aria-label="` + html.EscapeString(caption) + `"` + strings.TrimPrefix(s[start:], "<svg")
	return figure{ID: id, Caption: caption, SVG: s, Width: w}, nil
}

// smallMultipleCols is how many epsilon histograms share a row.
const smallMultipleCols = 4

// epsilonBars are one method's counts per bucket, then past the last
// bucket below the cap, then at the cap.
func epsilonBars(m *result.Method) (counts []float64, names []string) {
	for k, b := range m.Score.Buckets {
		counts = append(counts, float64(b.Count))
		// Every other bucket is named, so that the labels of a small
		// tile do not run together.
		if k%2 == 0 {
			names = append(names, g(b.Lo))
		} else {
			names = append(names, "")
		}
	}
	c := capped(m)
	counts = append(counts, float64(m.Score.NoBucket-c), float64(c))
	names = append(names, "≥"+g(m.Score.MaxEpsilon), "cap")
	return counts, names
}

// epsilonSmallMultiples draws every method's epsilon histogram, in the
// summary's order, as tiles on one y scale, so that the heights compare
// across methods: the examples in each bucket (worth 1, 1/2, 1/4, ...
// points), past the last bucket (no points), and at the cap.
func epsilonSmallMultiples(r *result.Result) (figure, error) {
	order := result.Ranked(r.Methods)
	top := 0.0
	for _, i := range order {
		counts, _ := epsilonBars(&r.Methods[i])
		top = max(top, slices.Max(counts))
	}
	cols := min(smallMultipleCols, len(order))
	rows := (len(order) + cols - 1) / cols
	w, tileH := vg.Length(cols)*2.5*vg.Inch, 2.1*vg.Inch
	h := tileH * vg.Length(rows)
	caption := "Forget examples per epsilon bucket, every method on the same scale, ranked as in the summary; a bucket's lower bound is on the axis (points 1, 1/2, 1/4, ... from the left), then the examples past the last bucket and those at the cap, which earn none."
	return svgDrawing("epsilon-multiples", caption, w, h, func(dc draw.Canvas) error {
		tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(6), PadY: vg.Points(6), PadTop: vg.Points(2), PadBottom: vg.Points(2)}
		for k, i := range order {
			m := &r.Methods[i]
			counts, names := epsilonBars(m)
			p := newPlot(fmt.Sprintf("%d. %s: F = %s", k+1, m.Name, g4(m.Score.F)), "", "")
			if k%cols == 0 {
				p.Y.Label.Text = "examples"
			}
			bars, err := plotter.NewBarChart(plotter.Values(counts), vg.Points(9))
			if err != nil {
				return fmt.Errorf("method %q: %w", m.Name, err)
			}
			bars.Color = unlearnedColor
			bars.LineStyle.Width = 0
			p.Add(bars)
			// The cap's bar in grey: a limit, not a measurement.
			capOnly := make(plotter.Values, len(counts))
			capOnly[len(counts)-1] = counts[len(counts)-1]
			capBar, err := plotter.NewBarChart(capOnly, vg.Points(9))
			if err != nil {
				return err
			}
			capBar.Color = color.Gray{Y: 0x88}
			capBar.LineStyle.Width = 0
			p.Add(capBar)
			p.NominalX(names...)
			p.X.Tick.Label.Font.Size = vg.Points(8)
			p.Y.Tick.Label.Font.Size = vg.Points(8)
			p.Title.TextStyle.Font.Size = vg.Points(10)
			p.X.Min, p.X.Max = -0.6, float64(len(counts))-0.4
			p.Y.Min, p.Y.Max = 0, top*1.05
			p.Draw(tiles.At(dc, k%cols, k/cols))
		}
		return nil
	})
}

// bucketsTable has one row per method, in the summary's order, and one
// column per bucket: the counts the small multiples draw.
func bucketsTable(r *result.Result) grid {
	m0 := &r.Methods[result.Ranked(r.Methods)[0]]
	t := grid{header: []string{"method"}}
	same := true
	for i := range r.Methods {
		same = same && len(r.Methods[i].Score.Buckets) == len(m0.Score.Buckets)
	}
	if !same {
		return t
	}
	for _, b := range m0.Score.Buckets {
		t.header = append(t.header, fmt.Sprintf("[%s, %s) %s", g(b.Lo), g(b.Hi), FormatPoints(b.Points)))
	}
	t.header = append(t.header, "≥ "+g(m0.Score.MaxEpsilon)+" 0", fmt.Sprintf("cap (%g) 0", capValue))
	for _, i := range result.Ranked(r.Methods) {
		m := &r.Methods[i]
		row := []string{m.Name}
		for _, b := range m.Score.Buckets {
			row = append(row, fmt.Sprint(b.Count))
		}
		c := capped(m)
		t.add(append(row, fmt.Sprint(m.Score.NoBucket-c), fmt.Sprint(c))...)
	}
	return t
}

// scoreName is what the trade-off plots put on the y axis: the final score
// when every method has one, F otherwise.
func scoreName(r *result.Result) (string, func(m *result.Method) float64) {
	if result.RankedByFinal(r.Methods) {
		return "final score", func(m *result.Method) float64 { return *m.Score.Final }
	}
	return "forgetting quality F", func(m *result.Method) float64 { return m.Score.F }
}

// utilityMethods lists the methods with accuracy ratios.
func utilityMethods(r *result.Result) []*result.Method {
	var out []*result.Method
	for i := range r.Methods {
		if r.Methods[i].Utility != nil {
			out = append(out, &r.Methods[i])
		}
	}
	return out
}

// utilityPlot draws F against the retain and the test accuracy ratio, one
// panel each, every method a labelled point: forgetting bought with
// utility shows as a point left of the ratio of 1.
func utilityPlot(methods []*result.Method) (figure, error) {
	caption := "Forgetting quality F against utility: each method's retain (left) and test (right) accuracy ratio of its unlearned to the retrained models; 1 (dashed) is the retrained models' accuracy, and higher and further right is better."
	w, h := 10*vg.Inch, 3.6*vg.Inch
	return svgDrawing("utility-plot", caption, w, h, func(dc draw.Canvas) error {
		tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Points(12), PadTop: vg.Points(2), PadBottom: vg.Points(2)}
		for k, panel := range []struct {
			name  string
			ratio func(u *scoring.Utility) float64
		}{
			{"RA_U / RA_R (retain accuracy ratio)", func(u *scoring.Utility) float64 { return u.RetainRatio }},
			{"TA_U / TA_R (test accuracy ratio)", func(u *scoring.Utility) float64 { return u.TestRatio }},
		} {
			var xys plotter.XYs
			var labels []string
			for _, m := range methods {
				xys = append(xys, plotter.XY{X: panel.ratio(m.Utility), Y: m.Score.F})
				labels = append(labels, m.Name)
			}
			p := newPlot("F against "+strings.SplitN(panel.name, " (", 2)[0], panel.name, "forgetting quality F")
			xmin, xmax := 1.0, 1.0
			ymax := 0.0
			for _, xy := range xys {
				xmin, xmax, ymax = min(xmin, xy.X), max(xmax, xy.X), max(ymax, xy.Y)
			}
			pad := max(xmax-xmin, 0.002) * 0.12
			p.X.Min, p.X.Max = xmin-pad, xmax+pad
			p.Y.Min, p.Y.Max = 0, max(ymax, 1e-3)*1.15
			one, err := plotter.NewLine(plotter.XYs{{X: 1, Y: p.Y.Min}, {X: 1, Y: p.Y.Max}})
			if err != nil {
				return err
			}
			one.LineStyle.Color = ruleColor
			one.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			if err := addLabelledPoints(p, xys, labels, 1); err != nil {
				return err
			}
			p.Add(one)
			p.Draw(tiles.At(dc, k, 0))
		}
		return nil
	})
}

// timeFractionPlot draws each method's score against its time per model
// as a fraction of retraining's, on a log axis (the methods span four
// orders of magnitude), with the competition's cut-off at 20%.
func timeFractionPlot(r *result.Result, methods []*result.Method) (figure, bool, error) {
	retrain := retrainSeconds(r)
	if retrain <= 0 {
		return figure{}, false, nil
	}
	yName, score := scoreName(r)
	var xys plotter.XYs
	var labels []string
	lo := math.Inf(1)
	for _, m := range methods {
		t := m.SecondsPerModel(scoring.Unlearned).Mean / retrain
		if t > 0 {
			lo = min(lo, t)
		}
		xys = append(xys, plotter.XY{X: t, Y: score(m)})
		labels = append(labels, m.Name)
	}
	if math.IsInf(lo, 1) {
		return figure{}, false, nil
	}
	// A method that took no measurable time sits at the axis's floor.
	floor := lo / 2
	for i := range xys {
		xys[i].X = max(xys[i].X, floor)
	}
	caption := fmt.Sprintf("%s against the time per unlearned model as a fraction of retraining's (%s per model), log scale; right of the dashed line a method is past the competition's cut-off of %.0f%%.", yName, seconds(retrain), 100*TimeCutoff)
	w, h := 10*vg.Inch, 3.8*vg.Inch
	fig, err := svgDrawing("time-plot", caption, w, h, func(dc draw.Canvas) error {
		p := newPlot(yName+" against time (fraction of retraining)", "time per model / time per retrained model (log scale)", yName)
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = percentTicks{}
		xmax, ymax := 1.0, 0.0
		for _, xy := range xys {
			xmax, ymax = max(xmax, xy.X), max(ymax, xy.Y)
		}
		p.X.Min, p.X.Max = floor, xmax*2
		p.Y.Min, p.Y.Max = 0, max(ymax, 1e-3)*1.15
		cut, err := plotter.NewLine(plotter.XYs{{X: TimeCutoff, Y: 0}, {X: TimeCutoff, Y: p.Y.Max}})
		if err != nil {
			return err
		}
		cut.LineStyle.Color = ruleColor
		cut.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(cut)
		if err := addLabelledPoints(p, xys, labels, TimeCutoff); err != nil {
			return err
		}
		p.Draw(dc)
		return nil
	})
	return fig, true, err
}

// percentTicks marks each power of ten as a percentage.
type percentTicks struct{}

func (percentTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi*1.0001; e++ {
		v := math.Pow(10, e)
		ticks = append(ticks, plot.Tick{Value: v, Label: g(100*v) + "%"})
		for k := 2.0; k < 10; k++ {
			if v*k >= lo && v*k <= hi {
				ticks = append(ticks, plot.Tick{Value: v * k})
			}
		}
	}
	return ticks
}

// addLabelledPoints adds the points and their labels, placed apart.
// Labels keep off the vertical reference lines at vlines (data x values).
func addLabelledPoints(p *plot.Plot, xys plotter.XYs, labels []string, vlines ...float64) error {
	sc, err := plotter.NewScatter(xys)
	if err != nil {
		return err
	}
	sc.GlyphStyle.Color = unlearnedColor
	sc.GlyphStyle.Shape = draw.CircleGlyph{}
	sc.GlyphStyle.Radius = vg.Points(3.5)
	lab := &pointLabels{xys: xys, labels: labels, radius: sc.GlyphStyle.Radius, vlines: vlines}
	lab.style = text.Style{Color: color.Black, Font: p.X.Tick.Label.Font, Handler: p.X.Tick.Label.Handler}
	lab.style.Font.Size = vg.Points(9)
	p.Add(sc, lab)
	return nil
}

// pointLabels writes each point's label beside it where it overlaps no
// other label, point or the plot's edge, trying positions ever further
// out and drawing a leader line to a label set away from its point: ten
// methods close in time and score are still read apart. gonum/plot's
// Labels plotter puts every label at a fixed offset, so they collide.
type pointLabels struct {
	xys    plotter.XYs
	labels []string
	style  text.Style
	radius vg.Length
	vlines []float64
}

func (l *pointLabels) DataRange() (xmin, xmax, ymin, ymax float64) { return plotter.XYRange(l.xys) }

func (l *pointLabels) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	pts := make([]vg.Point, len(l.xys))
	var taken []vg.Rectangle
	for i, xy := range l.xys {
		pts[i] = vg.Point{X: trX(xy.X), Y: trY(xy.Y)}
		r := l.radius + vg.Points(1)
		taken = append(taken, vg.Rectangle{Min: vg.Point{X: pts[i].X - r, Y: pts[i].Y - r}, Max: vg.Point{X: pts[i].X + r, Y: pts[i].Y + r}})
	}
	// Highest points first: they have the least room above.
	order := make([]int, len(pts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case pts[a].Y > pts[b].Y:
			return -1
		case pts[a].Y < pts[b].Y:
			return 1
		}
		return 0
	})
	for _, v := range l.vlines {
		x := trX(v)
		taken = append(taken, vg.Rectangle{Min: vg.Point{X: x - vg.Points(1), Y: c.Min.Y}, Max: vg.Point{X: x + vg.Points(1), Y: c.Max.Y}})
	}
	area := c.Rectangle
	gap := vg.Points(3)
	for _, i := range order {
		txt := l.labels[i]
		w, h := l.style.Width(txt), l.style.Height(txt)
		best, bestOverlap := vg.Rectangle{}, vg.Length(math.Inf(1))
		far := false
		for ring := 0; ring < 8 && bestOverlap > 0; ring++ {
			d := l.radius + gap + vg.Length(ring)*h
			for _, off := range []vg.Point{
				{X: d, Y: -h / 2}, {X: -d - w, Y: -h / 2}, {X: -w / 2, Y: d}, {X: -w / 2, Y: -d - h},
				{X: d, Y: d - h/2}, {X: d, Y: -d - h/2}, {X: -d - w, Y: d - h/2}, {X: -d - w, Y: -d - h/2},
			} {
				r := vg.Rectangle{Min: vg.Point{X: pts[i].X + off.X, Y: pts[i].Y + off.Y}}
				r.Max = vg.Point{X: r.Min.X + w, Y: r.Min.Y + h}
				overlap := outside(r, area)
				for _, o := range taken {
					overlap += overlapArea(r, o)
				}
				if overlap < bestOverlap {
					best, bestOverlap, far = r, overlap, ring > 0
				}
			}
		}
		taken = append(taken, best)
		if far {
			// A leader line from the point to the label's nearer edge.
			end := vg.Point{X: best.Min.X, Y: best.Min.Y + h/2}
			if best.Max.X < pts[i].X {
				end.X = best.Max.X
			}
			c.StrokeLine2(draw.LineStyle{Color: color.Gray{Y: 0x99}, Width: vg.Points(0.5)}, pts[i].X, pts[i].Y, end.X, end.Y)
		}
		sty := l.style
		sty.XAlign, sty.YAlign = draw.XLeft, draw.YBottom
		c.FillText(sty, best.Min, txt)
	}
}

// overlapArea is the area two rectangles share.
func overlapArea(a, b vg.Rectangle) vg.Length {
	w := min(a.Max.X, b.Max.X) - max(a.Min.X, b.Min.X)
	h := min(a.Max.Y, b.Max.Y) - max(a.Min.Y, b.Min.Y)
	if w <= 0 || h <= 0 {
		return 0
	}
	return w * h
}

// outside is a large penalty for the part of r outside area: a label
// must not be clipped.
func outside(r, area vg.Rectangle) vg.Length {
	in := overlapArea(r, area)
	return 100 * ((r.Max.X-r.Min.X)*(r.Max.Y-r.Min.Y) - in)
}
