package reports

import (
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"unlearnbench/attack"
	"unlearnbench/result"
	"unlearnbench/scoring"
)

// Colours of the two populations in every plot.
var (
	unlearnedColor = color.NRGBA{R: 0xd9, G: 0x5f, B: 0x02, A: 0xff}
	retrainedColor = color.NRGBA{R: 0x1b, G: 0x6f, B: 0xb5, A: 0xff}
	ruleColor      = color.NRGBA{A: 0xff}
)

func translucent(c color.NRGBA) color.NRGBA { c.A = 0x60; return c }

// figure is one plot rendered as inline SVG.
type figure struct {
	ID      string // unique in the report, for links and tests
	Caption string
	SVG     string
	Width   vg.Length // the drawing's width, for the page's layout
}

// svgFigure draws p into an SVG document without its XML prologue, ready to
// be inlined into HTML, labelled for screen readers.
func svgFigure(id, caption string, p *plot.Plot, w, h vg.Length) (figure, error) {
	return svgDrawing(id, caption, w, h, func(dc draw.Canvas) error {
		p.Draw(dc)
		return nil
	})
}

func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	// Liberation Sans is metric-compatible with Arial, which the HTML's CSS
	// names as its fallback, so text fits where gonum/plot measured it on
	// machines without Liberation fonts too.
	for _, s := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle, &p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle} {
		sans(s)
	}
	p.Add(plotter.NewGrid())
	return p
}

func sans(s *text.Style) { s.Font.Variant = "Sans" }

// histogramOver bins values into bins of equal width over [lo, hi].
func histogramOver(values []float64, lo, hi float64, n int) *plotter.Histogram {
	width := (hi - lo) / float64(n)
	bins := make([]plotter.HistogramBin, n)
	for i := range bins {
		bins[i].Min = lo + float64(i)*width
		bins[i].Max = lo + float64(i+1)*width
	}
	for _, v := range values {
		k := int((v - lo) / width)
		k = min(max(k, 0), n-1)
		bins[k].Weight++
	}
	// Empty bins draw nothing but cost the page a path each.
	bins = slices.DeleteFunc(bins, func(b plotter.HistogramBin) bool { return b.Weight == 0 })
	return &plotter.Histogram{Bins: bins, Width: width}
}

// distributionPlot shows one forget example's confidences under both
// populations with the thresholds of the rule that gave its epsilon.
func distributionPlot(m *result.Method, d *result.Distribution, rank int) (*plot.Plot, error) {
	ex := m.Examples[d.Example]
	title := fmt.Sprintf("example %d: epsilon %s (rank %d of %d)", d.Example, epsilonText(ex.Epsilon), rank, m.E)
	if ex.Peaky {
		title += ", peaky"
	}
	p := newPlot(title, "logit-scaled confidence", "models")
	lo := min(slices.Min(d.Unlearned), slices.Min(d.Retrained))
	hi := max(slices.Max(d.Unlearned), slices.Max(d.Retrained))
	var thresholds []float64
	if r := ex.Rule; r != nil {
		thresholds = append(thresholds, r.Lower)
		if r.Upper != nil {
			thresholds = append(thresholds, *r.Upper)
		}
	}
	for _, t := range thresholds {
		if finite(t) {
			lo, hi = min(lo, t), max(hi, t)
		}
	}
	if hi == lo {
		lo, hi = lo-0.5, hi+0.5
	}
	const nBins = 24
	top := 0.0
	for _, s := range []struct {
		name   string
		values []float64
		c      color.NRGBA
	}{{scoring.Retrained, d.Retrained, retrainedColor}, {scoring.Unlearned, d.Unlearned, unlearnedColor}} {
		h := histogramOver(s.values, lo, hi, nBins)
		h.FillColor = translucent(s.c)
		h.LineStyle.Color = s.c
		h.LineStyle.Width = vg.Points(1)
		for _, b := range h.Bins {
			top = max(top, b.Weight)
		}
		p.Add(h)
		p.Legend.Add(s.name, h)
	}
	for i, t := range thresholds {
		if !finite(t) {
			continue
		}
		line, err := plotter.NewLine(plotter.XYs{{X: t, Y: 0}, {X: t, Y: top}})
		if err != nil {
			return nil, err
		}
		line.LineStyle.Color = ruleColor
		line.LineStyle.Width = vg.Points(1.5)
		line.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(line)
		if i == 0 {
			p.Legend.Add("rule threshold", line)
		}
	}
	// Headroom above the bars keeps the legend off them.
	p.Legend.Top = true
	p.Y.Min, p.Y.Max = 0, math.Ceil(top*1.5)
	return p, nil
}

// ruleText says what the rule calls positive, with two decimals.
func ruleText(r *attack.Rule) string {
	switch r.Family {
	case attack.FamilyDoubleThreshold:
		return fmt.Sprintf("%.2f <= c <= %.2f is %s", r.Lower, *r.Upper, r.PositiveIs)
	case attack.FamilySingleThreshold:
		return fmt.Sprintf("c >= %.2f is %s", r.Lower, r.PositiveIs)
	}
	return r.Family
}

// rocPlot draws every attack of m that has a ROC curve, on linear axes or
// log-log ones, with each attack's TPR at the standard FPRs marked.
func rocPlot(m *result.Method, logLog bool) (*plot.Plot, error) {
	title := m.Name + ": ROC of the attacks"
	if logLog {
		title += " (log-log)"
	}
	p := newPlot(title, "false-positive rate", "true-positive rate")
	const floor = 1e-5 // the log-log plot's lowest rate, as LiRA's papers draw it
	keep := func(pt result.ROCPoint) bool { return !logLog || (pt.FPR > 0 && pt.TPR > 0) }
	chance := plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}}
	if logLog {
		chance = plotter.XYs{{X: floor, Y: floor}, {X: 1, Y: 1}}
	}
	diag, err := plotter.NewLine(chance)
	if err != nil {
		return nil, err
	}
	diag.LineStyle.Color = color.Gray{Y: 0x99}
	diag.LineStyle.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
	p.Add(diag)
	p.Legend.Add("chance", diag)
	k := 0
	for i := range m.Attacks {
		a := &m.Attacks[i]
		var pts plotter.XYs
		for _, pt := range a.ROC {
			if keep(pt) {
				pts = append(pts, plotter.XY{X: max(pt.FPR, floorIf(logLog, floor)), Y: max(pt.TPR, floorIf(logLog, floor))})
			}
		}
		if len(pts) == 0 {
			continue
		}
		c := plotutil.Color(k)
		k++
		line, err := plotter.NewLine(thinCurve(pts, logLog))
		if err != nil {
			return nil, fmt.Errorf("attack %s: %w", a.Name, err)
		}
		line.LineStyle.Color = c
		line.LineStyle.Width = vg.Points(1.5)
		p.Add(line)
		label := a.Name
		if a.AUC != nil {
			label += fmt.Sprintf(" (AUC %.3f)", *a.AUC)
		}
		p.Legend.Add(label, line)
		var marks plotter.XYs
		for _, fpr := range StandardFPRs {
			if tpr, ok := a.TPRAt(fpr); ok && (!logLog || tpr > 0) {
				marks = append(marks, plotter.XY{X: fpr, Y: max(tpr, floorIf(logLog, floor))})
			}
		}
		if len(marks) > 0 {
			sc, err := plotter.NewScatter(marks)
			if err != nil {
				return nil, err
			}
			sc.GlyphStyle.Color = c
			sc.GlyphStyle.Shape = draw.CircleGlyph{}
			sc.GlyphStyle.Radius = vg.Points(3)
			p.Add(sc)
		}
	}
	if logLog {
		p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
		p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
		p.X.Min, p.Y.Min = floor, floor
	} else {
		p.X.Min, p.Y.Min = 0, 0
	}
	p.X.Max, p.Y.Max = 1, 1
	// Curves above the chance line leave the lower right free.
	p.Legend.Top, p.Legend.Left = false, false
	return p, nil
}

// thinCurve drops the points of a curve that lie within a fraction of a
// pixel of the last one kept (in log space on log axes): a ROC curve of
// thousands of thresholds draws the same line from a few hundred points,
// and the report is a fraction of the size.
func thinCurve(pts plotter.XYs, logLog bool) plotter.XYs {
	const step = 0.002 // of the axis, about a pixel of a 4.6-inch plot
	pos := func(v float64) float64 {
		if logLog {
			return math.Log10(v) / 5 // the log axes span five decades
		}
		return v
	}
	out := plotter.XYs{pts[0]}
	for i := 1; i < len(pts); i++ {
		last := out[len(out)-1]
		if i == len(pts)-1 || math.Abs(pos(pts[i].X)-pos(last.X)) >= step || math.Abs(pos(pts[i].Y)-pos(last.Y)) >= step {
			out = append(out, pts[i])
		}
	}
	return out
}

func floorIf(cond bool, v float64) float64 {
	if cond {
		return v
	}
	return math.Inf(-1)
}

// hasROC reports whether any attack of m has a ROC curve.
func hasROC(m *result.Method) bool {
	for _, a := range m.Attacks {
		if len(a.ROC) > 0 {
			return true
		}
	}
	return false
}

// accuracyGroup is one population on the accuracy plot.
type accuracyGroup struct {
	label string
	acc   []result.Spread // per Accuracies entry
}

// accuracyGroups lists each method's unlearned population and the retrained
// populations, the latter once when every method shares the same one.
func accuracyGroups(r *result.Result) []accuracyGroup {
	var groups, retrained []accuracyGroup
	for i := range r.Methods {
		m := &r.Methods[i]
		for _, role := range []string{scoring.Unlearned, scoring.Retrained} {
			grp := accuracyGroup{label: m.Name}
			known := false
			for _, a := range result.Accuracies {
				s := m.AccuracySpread(role, a)
				grp.acc = append(grp.acc, s)
				known = known || s.N > 0
			}
			if !known {
				continue
			}
			if role == scoring.Unlearned {
				groups = append(groups, grp)
			} else {
				grp.label = m.Name + ": retrained"
				retrained = append(retrained, grp)
			}
		}
	}
	if len(retrained) > 0 && slices.IndexFunc(retrained, func(g accuracyGroup) bool { return !slices.Equal(g.acc, retrained[0].acc) }) < 0 {
		retrained = retrained[:1]
		retrained[0].label = "retrained"
	}
	return append(groups, retrained...)
}

// spreadPoints are mean ± std points for error bars.
type spreadPoints struct {
	plotter.XYs
	std []float64
}

func (s spreadPoints) YError(i int) (float64, float64) { return s.std[i], s.std[i] }
func (s spreadPoints) XError(i int) (float64, float64) { return s.std[i], s.std[i] }

// accuracyPlot shows retain, test and forget accuracy per population: the
// mean over models with one standard deviation either side.
func accuracyPlot(groups []accuracyGroup) (*plot.Plot, error) {
	p := newPlot("accuracy per population (mean ± 1 sd over models)", "", "accuracy")
	names := make([]string, len(groups))
	for i, grp := range groups {
		names[i] = grp.label
	}
	for k, a := range result.Accuracies {
		var pts spreadPoints
		for i, grp := range groups {
			if s := grp.acc[k]; s.N > 0 {
				pts.XYs = append(pts.XYs, plotter.XY{X: float64(i) + 0.2*float64(k-1), Y: s.Mean})
				pts.std = append(pts.std, s.Std)
			}
		}
		if len(pts.XYs) == 0 {
			continue
		}
		c := plotutil.Color(k)
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle.Color = c
		sc.GlyphStyle.Shape = draw.CircleGlyph{}
		sc.GlyphStyle.Radius = vg.Points(3.5)
		bars, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return nil, err
		}
		bars.LineStyle.Color = c
		p.Add(sc, bars)
		p.Legend.Add(string(a), sc)
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.5, float64(len(groups))-0.5
	// Past a few populations their names run together side by side:
	// upright, each keeps its own room.
	if len(groups) > 5 {
		p.X.Tick.Label.Rotation = math.Pi / 2
		p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
	}
	// Headroom above the points keeps the legend off them.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, grp := range groups {
		for _, s := range grp.acc {
			if s.N > 0 {
				lo, hi = min(lo, s.Mean-s.Std), max(hi, s.Mean+s.Std)
			}
		}
	}
	pad := max(hi-lo, 0.01)
	p.Y.Min, p.Y.Max = max(0, lo-0.1*pad), min(1, hi+0.5*pad)
	p.Legend.Top = true
	return p, nil
}

// timeMethods lists the methods with wall times.
func timeMethods(r *result.Result) []*result.Method {
	var out []*result.Method
	for i := range r.Methods {
		if r.Methods[i].SecondsPerModel(scoring.Unlearned).N > 0 {
			out = append(out, &r.Methods[i])
		}
	}
	return out
}

// timePlot is the score of each method against its wall time per model,
// with the competition's cut-off (20% of the retraining time) where the
// retrained population's time is known.
func timePlot(r *result.Result, methods []*result.Method) (*plot.Plot, error) {
	useFinal := true
	for _, m := range methods {
		useFinal = useFinal && m.Score.Final != nil
	}
	yName := "forgetting quality F"
	if useFinal {
		yName = "final score"
	}
	p := newPlot(yName+" against wall time per unlearned model", "seconds per model (mean ± 1 sd)", yName)
	var pts spreadPoints
	var labels []string
	retrain := 0.0
	for _, m := range methods {
		t := m.SecondsPerModel(scoring.Unlearned)
		y := m.Score.F
		if useFinal {
			y = *m.Score.Final
		}
		pts.XYs = append(pts.XYs, plotter.XY{X: t.Mean, Y: y})
		pts.std = append(pts.std, t.Std)
		labels = append(labels, m.Name)
		if rt := m.SecondsPerModel(scoring.Retrained); rt.N > 0 && retrain == 0 {
			retrain = rt.Mean
		}
	}
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return nil, err
	}
	sc.GlyphStyle.Color = unlearnedColor
	sc.GlyphStyle.Shape = draw.CircleGlyph{}
	sc.GlyphStyle.Radius = vg.Points(4)
	xerr, err := plotter.NewXErrorBars(pts)
	if err != nil {
		return nil, err
	}
	lab, err := plotter.NewLabels(plotter.XYLabels{XYs: pts.XYs, Labels: labels})
	if err != nil {
		return nil, err
	}
	for i := range lab.TextStyle {
		sans(&lab.TextStyle[i])
		lab.TextStyle[i].XAlign = draw.XLeft
	}
	lab.Offset = vg.Point{X: vg.Points(6)}
	p.Add(sc, xerr, lab)
	xMax, yMax := 0.0, 0.0
	for i, xy := range pts.XYs {
		xMax, yMax = max(xMax, xy.X+pts.std[i]), max(yMax, xy.Y)
	}
	yMax = max(yMax, 1e-9)
	if retrain > 0 {
		cut := TimeCutoff * retrain
		xMax = max(xMax, cut)
		line, err := plotter.NewLine(plotter.XYs{{X: cut, Y: 0}, {X: cut, Y: yMax * 1.1}})
		if err != nil {
			return nil, err
		}
		line.LineStyle.Color = ruleColor
		line.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(line)
		p.Legend.Add(fmt.Sprintf("competition's cut-off: %.0f%% of retraining time (%s)", 100*TimeCutoff, seconds(retrain)), line)
	}
	// Room right of the points for their names and above them for the
	// legend.
	p.X.Min, p.X.Max = 0, xMax*1.15
	p.Y.Min, p.Y.Max = 0, yMax*1.4
	p.Legend.Top, p.Legend.Left = true, true
	return p, nil
}
