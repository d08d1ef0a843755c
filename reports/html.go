package reports

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"

	"gonum.org/v1/plot/vg"

	"unlearnbench/result"
)

//go:embed report.html.tmpl
var htmlTemplateText string

var htmlTemplate = template.Must(template.New("report").Parse(htmlTemplateText))

// Plot sizes in the HTML report.
var (
	wideW, wideH   = 7 * vg.Inch, 3.2 * vg.Inch
	smallW, smallH = 4.6 * vg.Inch, 3.2 * vg.Inch
)

// htmlFigure is a figure ready for the template.
type htmlFigure struct {
	ID, Caption string
	SVG         template.HTML
	// Width is the drawing's width in CSS pixels: the figure is at most
	// that wide and shrinks with the page.
	Width int
}

type htmlTable struct {
	Header []string
	Rows   [][]htmlCell
}

type htmlCell struct {
	Text string
	Best bool
}

type htmlMethod struct {
	Name, Anchor string
	F, Final     string
	// Interval says what F's bootstrap interval is ("" without one).
	Interval       string
	Worst          htmlTable
	WorstCount     int
	E              int
	All            htmlTable // every example, when there are few enough
	Distributions  []htmlFigure
	ROC            []htmlFigure
	AbsentDist     []string
	AbsentROC      []string
	HasAttackTable bool
	KLoM           *htmlFigure
	KLoMWorst      htmlTable
}

type htmlReport struct {
	Headline                    string
	Summary, Populations        htmlTable
	SummaryNotes                []string
	Epsilons                    *htmlFigure
	Buckets                     htmlTable
	Utility                     *htmlFigure
	AbsentUtility               []string
	WarningGroups               []warningGroup
	WarningCount                int
	Data, Inputs, Attacks       htmlTable
	Config                      string
	Methods                     []htmlMethod
	Accuracy, Time              *htmlFigure
	AbsentAccuracy, AbsentTime  []string
	Warnings                    []string
	AnyDistribution, AnyROC     bool
	AbsentDistAll, AbsentROCAll []string
	Sections                    []htmlSection
	KLoM, ToW                   htmlTable
	MetricsIntro                string
	AbsentMetrics               []string
	ReportWorst                 int
}

type htmlSection struct{ ID, Title string }

// Sections of the HTML report, in order; each is always present, saying so
// when the result has nothing for it.
var Sections = []htmlSection{
	{"summary", "Summary"},
	{"tradeoff", "Forgetting against utility and time"},
	{"epsilons", "Epsilons per forget example"},
	{"examples", "Worst-forgotten and typical examples"},
	{"attacks", "Attacks"},
	{"klom", "KLoM and ToW"},
	{"accuracy", "Accuracy"},
	{"run", "Run"},
	{"warnings", "Warnings"},
}

// SectionIDs lists the HTML report's section ids, in order.
func SectionIDs() []string {
	ids := make([]string, len(Sections))
	for i, s := range Sections {
		ids[i] = s.ID
	}
	return ids
}

func toHTMLTable(t grid) htmlTable {
	h := htmlTable{Header: t.header, Rows: make([][]htmlCell, len(t.rows))}
	for r, row := range t.rows {
		h.Rows[r] = make([]htmlCell, len(row))
		for c, text := range row {
			h.Rows[r][c] = htmlCell{Text: text, Best: t.best[[2]int{r, c}]}
		}
	}
	return h
}

func toHTMLFigure(f figure) htmlFigure {
	// The SVG comes from gonum/plot's SVG canvas with every text escaped by
	// it, and the caption escaped by svgFigure.
	return htmlFigure{ID: f.ID, Caption: f.Caption, SVG: template.HTML(f.SVG), Width: int(math.Round(f.Width.Points() * 4 / 3))}
}

// maxListedExamples bounds the full per-example table in the HTML report;
// past it the reader is sent to examples.csv.
const maxListedExamples = 100

// WriteHTML renders r as one self-contained HTML page: tables, and plots as
// inline SVG drawn by gonum/plot, with inline CSS and no script or network
// access.
func WriteHTML(w io.Writer, r *result.Result) error {
	rep := htmlReport{
		Headline:     headline(r),
		Summary:      toHTMLTable(summaryGrid(r)),
		Data:         toHTMLTable(dataGrid(r)),
		Inputs:       toHTMLTable(inputsGrid(r)),
		Attacks:      toHTMLTable(attacksGrid(r)),
		Warnings:     warningLines(r),
		SummaryNotes: summaryNotes(r),
		Buckets:      toHTMLTable(bucketsTable(r)),
		Sections:     Sections,
		ReportWorst:  ReportWorst,
	}
	if hasMetrics(r) {
		rep.KLoM, rep.ToW, rep.MetricsIntro = toHTMLTable(klomGrid(r)), toHTMLTable(towGrid(r)), metricsIntro
	} else {
		rep.AbsentMetrics = []string{noMetrics}
	}
	if hasPopulationDetail(r) {
		rep.Populations = toHTMLTable(populationGrid(r))
	}
	if len(r.Config) > 0 {
		rep.Config = configText(r)
	}
	dist, roc, acc, tm := absentPlots(r)
	rep.AbsentAccuracy, rep.AbsentTime = acc, tm
	for i := range r.Methods {
		m := &r.Methods[i]
		hm := htmlMethod{
			Name: m.Name, Anchor: fmt.Sprintf("method-%d", i), E: m.E,
			F: g(m.Score.F), Final: finalOrWhy(m), Interval: IntervalText(m),
		}
		hm.WorstCount = min(ReportWorst, m.E)
		hm.Worst = toHTMLTable(worstGrid(m, hm.WorstCount))
		if m.E <= maxListedExamples {
			hm.All = toHTMLTable(worstGrid(m, m.E))
		}
		rank := result.Rank(m.Examples)
		for k := range m.Distributions {
			d := &m.Distributions[k]
			p, err := distributionPlot(m, d, rank[d.Example])
			if err != nil {
				return fmt.Errorf("method %q: example %d: %w", m.Name, d.Example, err)
			}
			f, err := svgFigure(fmt.Sprintf("%s-example-%d", hm.Anchor, d.Example), distributionCaption(m, d, rank[d.Example]), p, smallW, smallH)
			if err != nil {
				return err
			}
			hm.Distributions = append(hm.Distributions, toHTMLFigure(f))
		}
		if hasROC(m) {
			for _, logLog := range []bool{false, true} {
				p, err := rocPlot(m, logLog)
				if err != nil {
					return fmt.Errorf("method %q: ROC: %w", m.Name, err)
				}
				id := hm.Anchor + "-roc"
				if logLog {
					id += "-loglog"
				}
				f, err := svgFigure(id, p.Title.Text, p, smallW, smallW*0.85)
				if err != nil {
					return err
				}
				hm.ROC = append(hm.ROC, toHTMLFigure(f))
			}
		}
		if hasKLoMValues(m) {
			p, err := klomPlot(m)
			if err != nil {
				return fmt.Errorf("method %q: KLoM histogram: %w", m.Name, err)
			}
			f, err := svgFigure(hm.Anchor+"-klom", klomCaption(m), p, wideW, wideH)
			if err != nil {
				return err
			}
			hf := toHTMLFigure(f)
			hm.KLoM = &hf
			hm.KLoMWorst = toHTMLTable(klomWorstGrid(m, ReportWorst))
		}
		rep.AnyDistribution = rep.AnyDistribution || len(hm.Distributions) > 0
		rep.AnyROC = rep.AnyROC || len(hm.ROC) > 0
		rep.Methods = append(rep.Methods, hm)
	}
	rep.AbsentDistAll, rep.AbsentROCAll = dist, roc
	if groups := accuracyGroups(r); len(groups) > 0 {
		p, err := accuracyPlot(groups)
		if err != nil {
			return fmt.Errorf("accuracy plot: %w", err)
		}
		// Upright names (past five populations) need room below.
		h := wideH
		if len(groups) > 5 {
			h += 0.9 * vg.Inch
		}
		f, err := svgFigure("accuracy-plot", p.Title.Text, p, wideW, h)
		if err != nil {
			return err
		}
		hf := toHTMLFigure(f)
		rep.Accuracy = &hf
	}
	rep.WarningGroups, rep.WarningCount = groupWarnings(r), len(rep.Warnings)
	ef, err := epsilonSmallMultiples(r)
	if err != nil {
		return fmt.Errorf("epsilon histograms: %w", err)
	}
	hf := toHTMLFigure(ef)
	rep.Epsilons = &hf
	if methods := utilityMethods(r); len(methods) > 0 {
		f, err := utilityPlot(methods)
		if err != nil {
			return fmt.Errorf("utility plot: %w", err)
		}
		hf := toHTMLFigure(f)
		rep.Utility = &hf
	} else {
		rep.AbsentUtility = []string{"no accuracies in this result, so no plot of F against utility"}
	}
	if methods := timeMethods(r); len(methods) > 0 {
		f, ok, err := timeFractionPlot(r, methods)
		if err != nil {
			return fmt.Errorf("time plot: %w", err)
		}
		if ok {
			hf := toHTMLFigure(f)
			rep.Time = &hf
		} else {
			rep.AbsentTime = []string{"no retraining time in this result, so no plot against the fraction of it each method took"}
		}
	}
	return htmlTemplate.Execute(w, rep)
}

// distributionCaption says which example a distribution plot shows and the
// rule that reached its epsilon.
func distributionCaption(m *result.Method, d *result.Distribution, rank int) string {
	ex := m.Examples[d.Example]
	s := fmt.Sprintf("%s, example %d: epsilon %s, rank %d of %d (highest first)", m.Name, d.Example, epsilonText(ex.Epsilon), rank, m.E)
	switch {
	case ex.Peaky:
		s += "; one population's spread is under 1% of the other's, so the example gets the cap without a rule"
	case ex.Rule != nil:
		s += "; rule " + ruleText(ex.Rule)
		if ex.FPR != nil && ex.FNR != nil {
			s += fmt.Sprintf(" (FPR %.4f, FNR %.4f)", *ex.FPR, *ex.FNR)
		}
	}
	return s
}
