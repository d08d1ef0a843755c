package reports

import (
	"cmp"
	"fmt"
	"image/color"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"unlearnbench/result"
)

// klomSet is the set a KLoM row is about ("forget" of "klom/forget").
func klomSet(a *result.AttackResult) string {
	_, set, _ := strings.Cut(a.Name, "/")
	return set
}

// metricRows returns m's KLoM and ToW rows, in the result's order.
func metricRows(m *result.Method, kind string) []*result.AttackResult {
	var out []*result.AttackResult
	for i := range m.Attacks {
		if m.Attacks[i].Kind == kind {
			out = append(out, &m.Attacks[i])
		}
	}
	return out
}

func hasMetrics(r *result.Result) bool {
	for i := range r.Methods {
		if len(metricRows(&r.Methods[i], result.KindKLoM))+len(metricRows(&r.Methods[i], result.KindToW)) > 0 {
			return true
		}
	}
	return false
}

// noMetrics says why a result has no KLoM or ToW section.
const noMetrics = "no KLoM or ToW in this result (the attack command computes them)"

// metricsIntro says what the section's numbers are.
const metricsIntro = "KLoM (Georgiev et al. 2024, EasyDUB) is, per example, the KL divergence between the histograms (20 bins) of the retrained and the unlearned models' margins, as the benchmark's public code bins them: 0 when the unlearned models' margins are distributed like the retrained ones', lower is better. ToW (Zhao et al., RUM) is, per pair of an unlearned and a retrained model, the product over forget, retain and test of 1 - |acc_U - acc_R|; ToW-MIA puts the simple MIA's accuracy in the forget term: 1 is a perfect match, higher is better, with a t-based 95% interval over the pairs."

// klomGrid has one row per method and set: how many examples, the mean,
// median and 95th percentile of KLoM over the defined ones.
func klomGrid(r *result.Result) grid {
	t := grid{header: []string{"method", "set", "examples", "undefined", "mean", "median", "p95", "divergence"}}
	for i := range r.Methods {
		m := &r.Methods[i]
		for _, a := range metricRows(m, result.KindKLoM) {
			if a.Skipped != "" {
				t.add(m.Name, klomSet(a), "-", "-", "not run: "+a.Skipped, "-", "-", "-")
				continue
			}
			div := strings.TrimSuffix(strings.TrimPrefix(a.ValueName, "binned-margin "), " mean")
			t.add(m.Name, klomSet(a), strconv.Itoa(len(a.PerExample)), strconv.Itoa(len(a.Undefined)),
				optional(a.Value, f4), optional(a.Median, f4), optional(a.P95, f4), orDash(div))
		}
	}
	return t
}

// towGrid has one row per method and ToW variant: the mean over model
// pairs with its t-based 95% interval.
func towGrid(r *result.Result) grid {
	t := grid{header: []string{"method", "metric", "model pairs", "mean", "95% t interval"}}
	for i := range r.Methods {
		m := &r.Methods[i]
		for _, a := range metricRows(m, result.KindToW) {
			if a.Skipped != "" {
				t.add(m.Name, a.Name, "-", "not run: "+a.Skipped, "-")
				continue
			}
			ci := "-"
			if a.CILow != nil && a.CIHigh != nil {
				ci = "[" + f4(*a.CILow) + ", " + f4(*a.CIHigh) + "]"
			}
			t.add(m.Name, a.Name, strconv.Itoa(len(a.PerModel)), optional(a.Value, f4), ci)
		}
	}
	return t
}

// klomRanked is one example of a set with its KLoM.
type klomRanked struct {
	example int
	value   float64
}

// worstKLoM lists a set's examples by KLoM, highest first (the undefined
// ones left out), ties by example index.
func worstKLoM(a *result.AttackResult) []klomRanked {
	undef := map[int]bool{}
	for _, i := range a.Undefined {
		undef[i] = true
	}
	out := make([]klomRanked, 0, len(a.PerExample))
	for i, v := range a.PerExample {
		if !undef[i] {
			out = append(out, klomRanked{i, v})
		}
	}
	slices.SortStableFunc(out, func(x, y klomRanked) int { return cmp.Compare(y.value, x.value) })
	return out
}

// klomWorstGrid lists the k examples of each set of m with the highest
// KLoM; forget examples with their epsilon, to set the two side by side.
func klomWorstGrid(m *result.Method, k int) grid {
	t := grid{header: []string{"set", "rank", "example", "KLoM", "epsilon"}}
	for _, a := range metricRows(m, result.KindKLoM) {
		if a.Skipped != "" {
			continue
		}
		set := klomSet(a)
		w := worstKLoM(a)
		for r, ex := range w[:min(k, len(w))] {
			eps := "-"
			if set == "forget" && ex.example < len(m.Examples) {
				eps = f4(m.Examples[ex.example].Epsilon)
			}
			t.add(set, strconv.Itoa(r+1), strconv.Itoa(ex.example), f4(ex.value), eps)
		}
	}
	return t
}

// setColors are the sets' colours in the KLoM histogram.
var setColors = map[string]color.NRGBA{
	"forget": unlearnedColor,
	"retain": retrainedColor,
	"test":   {R: 0x1b, G: 0x9e, B: 0x77, A: 0xff},
}

// klomPlot draws the histogram of each set's KLoM values of m as the
// fraction of the set's examples per bin, the sets over one another.
func klomPlot(m *result.Method) (*plot.Plot, error) {
	rows := metricRows(m, result.KindKLoM)
	var sets []*result.AttackResult
	hi := 0.0
	for _, a := range rows {
		if a.Skipped == "" && len(worstKLoM(a)) > 0 {
			sets = append(sets, a)
			hi = max(hi, worstKLoM(a)[0].value)
		}
	}
	if len(sets) == 0 {
		return nil, fmt.Errorf("no KLoM values")
	}
	name := sets[0].ValueName
	if name == "" {
		name = "KLoM"
	}
	p := newPlot(m.Name+": KLoM per example", strings.TrimSuffix(name, " mean")+", nats", "fraction of the set's examples")
	if hi == 0 {
		hi = 1
	}
	const nBins = 25
	top := 0.0
	for k, a := range sets {
		var vals []float64
		for _, ex := range worstKLoM(a) {
			vals = append(vals, ex.value)
		}
		h := histogramOver(vals, 0, hi, nBins)
		for b := range h.Bins {
			h.Bins[b].Weight /= float64(len(vals))
			top = max(top, h.Bins[b].Weight)
		}
		c, ok := setColors[klomSet(a)]
		if !ok {
			c = color.NRGBAModel.Convert(plotutil.Color(k)).(color.NRGBA)
		}
		h.FillColor = translucent(c)
		h.LineStyle.Color = c
		h.LineStyle.Width = vg.Points(1)
		p.Add(h)
		p.Legend.Add(fmt.Sprintf("%s (%d examples)", klomSet(a), len(vals)), h)
	}
	p.Legend.Top = true
	p.X.Min, p.X.Max = 0, hi
	p.Y.Min, p.Y.Max = 0, min(1, top*1.4)
	return p, nil
}

// klomCaption says what the KLoM histogram shows.
func klomCaption(m *result.Method) string {
	var parts []string
	for _, a := range metricRows(m, result.KindKLoM) {
		if a.Skipped == "" && a.Value != nil {
			parts = append(parts, fmt.Sprintf("%s: mean %s, median %s, p95 %s", klomSet(a), f4(*a.Value), optional(a.Median, f4), optional(a.P95, f4)))
		}
	}
	return m.Name + ": KLoM per example (lower is closer to retraining); " + strings.Join(parts, "; ")
}

// hasKLoMValues reports whether m has a KLoM row with values to plot.
func hasKLoMValues(m *result.Method) bool {
	for _, a := range metricRows(m, result.KindKLoM) {
		if a.Skipped == "" && len(worstKLoM(a)) > 0 {
			return true
		}
	}
	return false
}

// forgetKLoM returns a function giving forget example e's KLoM as a CSV
// cell: "" when the result has none or it is undefined there.
func forgetKLoM(m *result.Method) func(e int) string {
	var row *result.AttackResult
	for _, a := range metricRows(m, result.KindKLoM) {
		if klomSet(a) == "forget" && a.Skipped == "" {
			row = a
		}
	}
	if row == nil {
		return func(int) string { return "" }
	}
	undef := map[int]bool{}
	for _, i := range row.Undefined {
		undef[i] = true
	}
	return func(e int) string {
		if e < 0 || e >= len(row.PerExample) || undef[e] {
			return ""
		}
		return csvFloat(row.PerExample[e])
	}
}
