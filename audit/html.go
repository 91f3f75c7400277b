package audit

import (
	"bufio"
	"cmp"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"marketfleet/market"
	"marketfleet/store"
)

// maxGapLines caps the list of gaps under the heatmap.
const maxGapLines = 1000

// monthFormat names a month on the page and in its data-month attributes.
const monthFormat = "2006-01"

// page is what the template draws: everything already computed and
// formatted, in the order shown.
type page struct {
	Report           Report
	At, Took, Scope  string
	Share            string // of the expected bars not known holes, present
	Years            []yearHead
	Months           []monthHead
	Rows             []heatRow
	Gaps             []gapLine
	MoreGaps         int
	RestatementCount int
}

type yearHead struct {
	Year string // "" when the span is too narrow to hold it
	Span int
}

type monthHead struct{ Month, Letter string }

// heatRow is one series: its cells in month order.
type heatRow struct {
	Key, Label, Percent string
	BySymbol            int // its rank in symbol order, for the script
	Cells               []heatCell
	share               float64
}

// heatCell is one series' month. Class is its state (full, gap, hole or
// empty), for a gap its shade (g0 worst to g4), and its marks (holes, prov,
// restated). Coverage is "" for an empty month.
type heatCell struct {
	Month, Class, Coverage, Title string
}

type gapLine struct {
	Series, First, Last string
	Bars                int64
}

// WriteHTML writes r as one self-contained HTML page to w: the totals, a
// heatmap of every series' coverage per calendar month (UTC; it needs the
// months of an audit run with store.AuditQuery.ByMonth, and says so when r
// has none), worst-covered series first, with the months holding the
// ex-date of one of restated marked, and the list of the gaps, at most
// 1000 lines. The page has no links and loads nothing: its style and its
// script (ordering the rows by symbol or by coverage) are inline. It
// returns the first error writing to w.
func WriteHTML(w io.Writer, r Report, restated []store.SeriesRestatement) error {
	p := page{
		Report: r, At: r.At.UTC().Format("2006-01-02 15:04:05 UTC"),
		Took: r.Took.Round(time.Millisecond).String(), Scope: r.Scope,
		Share:            percent(share(r.Totals.Present, r.Totals.Expected, r.Totals.Holes)),
		RestatementCount: len(restated),
	}
	if p.Scope == "" {
		p.Scope = "whole history"
	}
	months := monthSpan(r.Series)
	for i, m := range months {
		if i == 0 || m.Month() == time.January {
			span := min(len(months)-i, 12-int(m.Month())+1)
			y := yearHead{Span: span}
			if span >= 3 {
				y.Year = strconv.Itoa(m.Year())
			}
			p.Years = append(p.Years, y)
		}
		p.Months = append(p.Months, monthHead{m.Format(monthFormat), "JFMAMJJASOND"[m.Month()-1 : m.Month()]})
	}
	kinds := restatedMonths(restated)
	for _, s := range r.Series {
		p.Rows = append(p.Rows, seriesRow(s, months, kinds[s.Series]))
	}
	for i := range p.Rows {
		p.Rows[i].BySymbol = i // r.Series is in symbol and interval order
	}
	slices.SortStableFunc(p.Rows, func(a, b heatRow) int { return cmp.Compare(a.share, b.share) })
	gaps := r.Gaps()
	for _, g := range gaps[:min(len(gaps), maxGapLines)] {
		p.Gaps = append(p.Gaps, gapLine{g.Series.String(), barTime(g.First), barTime(g.Last), g.Bars})
	}
	p.MoreGaps = len(gaps) - len(p.Gaps)

	bw := bufio.NewWriter(w)
	if err := pageTemplate.Execute(bw, p); err != nil {
		return fmt.Errorf("write the audit page: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write the audit page: %w", err)
	}
	return nil
}

// monthSpan returns every calendar month from the earliest to the latest
// of the series' months.
func monthSpan(series []store.SeriesAudit) []time.Time {
	var first, last time.Time
	for _, s := range series {
		for _, m := range s.Months {
			if first.IsZero() || m.Month.Before(first) {
				first = m.Month
			}
			if m.Month.After(last) {
				last = m.Month
			}
		}
	}
	if first.IsZero() {
		return nil
	}
	var out []time.Time
	for m := monthOf(first); !m.After(last); m = m.AddDate(0, 1, 0) {
		out = append(out, m)
	}
	return out
}

// restatedMonths maps each series to the kinds of its restatements by the
// month of their ex-date.
func restatedMonths(restated []store.SeriesRestatement) map[market.Series]map[string][]string {
	out := map[market.Series]map[string][]string{}
	for _, r := range restated {
		if out[r.Series] == nil {
			out[r.Series] = map[string][]string{}
		}
		m := r.ExDate.UTC().Format(monthFormat)
		out[r.Series][m] = append(out[r.Series][m], string(r.Kind))
	}
	return out
}

// seriesRow draws one series over months.
func seriesRow(s store.SeriesAudit, months []time.Time, restated map[string][]string) heatRow {
	row := heatRow{
		Key: s.Series.String(), Label: s.Symbol + " " + string(s.Interval),
		share: share(s.Present, s.Expected, s.Holes),
	}
	row.Percent = percent(row.share)
	byMonth := map[string]store.MonthCoverage{}
	for _, m := range s.Months {
		byMonth[monthOf(m.Month).Format(monthFormat)] = m
	}
	for _, month := range months {
		name := month.Format(monthFormat)
		row.Cells = append(row.Cells, monthCell(name, byMonth[name], restated[name]))
	}
	return row
}

// monthCell draws one month of a series.
func monthCell(name string, m store.MonthCoverage, restated []string) heatCell {
	c := heatCell{Month: name}
	var class []string
	title := []string{name}
	if m.Expected == 0 {
		class = append(class, "empty")
		title = append(title, "nothing expected")
	} else {
		sh := share(m.Present, m.Expected, m.Holes)
		c.Coverage = strconv.FormatFloat(math.Floor(sh*1e4)/1e4, 'f', 4, 64)
		switch {
		case m.Present+m.Holes < m.Expected:
			class = append(class, "gap", shade(sh))
		case m.Holes > 0:
			class = append(class, "hole")
		default:
			class = append(class, "full")
		}
		title = append(title, fmt.Sprintf("%d of %d expected bars present (%s)", m.Present, m.Expected, percent(sh)),
			fmt.Sprintf("missing %d", m.Expected-m.Present-m.Holes))
	}
	if m.Holes > 0 {
		class = append(class, "holes")
		title = append(title, fmt.Sprintf("known holes %d", m.Holes))
	}
	if m.Provisional > 0 {
		class = append(class, "prov")
		title = append(title, fmt.Sprintf("provisional %d", m.Provisional))
	}
	if len(restated) > 0 {
		class = append(class, "restated")
		title = append(title, "restated: "+strings.Join(restated, ", "))
	}
	c.Class, c.Title = strings.Join(class, " "), strings.Join(title, "\n")
	return c
}

// share is the part of the expected bars that are not known holes that is
// present: 1 when there are none.
func share(present, expected, holes int64) float64 {
	if expected-holes <= 0 {
		return 1
	}
	return float64(present) / float64(expected-holes)
}

// shade names the red of a gap month, g0 (nothing present) to g4 (at most
// 1% missing).
func shade(share float64) string {
	switch {
	case share == 0:
		return "g0"
	case share < 0.5:
		return "g1"
	case share < 0.9:
		return "g2"
	case share < 0.99:
		return "g3"
	default:
		return "g4"
	}
}

func percent(share float64) string {
	return strconv.FormatFloat(math.Floor(share*1e4)/100, 'f', 2, 64) + "%"
}

func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// barTime formats a bar start: its date alone at midnight UTC.
func barTime(t time.Time) string {
	t = t.UTC()
	if t.Equal(t.Truncate(24 * time.Hour)) {
		return t.Format(time.DateOnly)
	}
	return t.Format("2006-01-02 15:04")
}

// pageTemplate is the page. Its cells are 14 x 14 px so that 500 series
// over 10 years fit a screen's width; full months are green, months with
// missing bars amber to dark red by their share present, known holes
// hatched, provisional bars framed in blue, restatements dotted.
var pageTemplate = template.Must(template.New("audit").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>marketfleet audit {{.At}}</title>
<style>
body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222;background:#fff}
h1{font-size:18px;margin:0 0 8px}
dl.totals{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:4px 16px;margin:0 0 16px}
dl.totals div{border-left:3px solid #ccc;padding-left:6px}
dt{color:#666;font-size:11px}dd{margin:0;font-size:15px;font-variant-numeric:tabular-nums}
.legend{margin:8px 0;font-size:12px}.legend span{white-space:nowrap}.legend i{display:inline-block;width:14px;height:14px;vertical-align:middle;margin:0 3px 0 10px;position:relative}
table.map{border-collapse:separate;border-spacing:1px}
.map td{width:14px;min-width:14px;max-width:14px;height:14px;padding:0;position:relative;box-sizing:border-box}
.map thead th{font-weight:normal;font-size:9px;color:#666;padding:0;text-align:center}
.map thead th.y{text-align:left;font-size:10px;border-left:1px solid #bbb;padding-left:2px}
.map th.s{position:sticky;left:0;z-index:1;background:#fff;text-align:left;font:12px monospace;white-space:nowrap;padding:0 8px 0 0}
.map th.s small{color:#888;margin-left:6px}
.full{background-color:#2e9e44}.hole{background-color:#2e9e44}.empty{background-color:#e6e6e6}
.g4{background-color:#f2b134}.g3{background-color:#ee8133}.g2{background-color:#e0552d}.g1{background-color:#c62828}.g0{background-color:#7f0000}
.holes{background-image:repeating-linear-gradient(135deg,rgba(255,255,255,.6) 0 2px,transparent 2px 5px)}
.prov{box-shadow:inset 0 0 0 2px #2f5fd0}
.restated::after{content:"";position:absolute;top:1px;right:1px;width:4px;height:4px;border-radius:50%;background:#000}
table.gaps{border-collapse:collapse;font:12px monospace}.gaps td,.gaps th{padding:1px 12px 1px 0;text-align:left}
.gaps td.n{text-align:right}
button{font:inherit;margin:0 0 8px}
</style></head>
<body>
<h1>marketfleet audit</h1>
<dl class="totals">
<div><dt>series</dt><dd>{{.Report.Totals.Series}}</dd></div>
<div><dt>expected bars</dt><dd>{{.Report.Totals.Expected}}</dd></div>
<div><dt>present</dt><dd>{{.Report.Totals.Present}} ({{.Share}})</dd></div>
<div><dt>missing</dt><dd>{{.Report.Totals.Missing}}</dd></div>
<div><dt>known holes</dt><dd>{{.Report.Totals.Holes}}</dd></div>
<div><dt>provisional</dt><dd>{{.Report.Totals.Provisional}}</dd></div>
<div><dt>stored</dt><dd>{{.Report.Totals.Stored}}</dd></div>
<div><dt>gaps</dt><dd>{{.Report.Totals.Gaps}}</dd></div>
<div><dt>persisting gaps</dt><dd>{{.Report.Totals.Persisting}}</dd></div>
<div><dt>restatements</dt><dd>{{.RestatementCount}}</dd></div>
<div><dt>ran at</dt><dd>{{.At}}</dd></div>
<div><dt>scope</dt><dd>{{.Scope}}</dd></div>
<div><dt>took</dt><dd>{{.Took}}</dd></div>
</dl>
<h2>Coverage by month (UTC)</h2>
{{if .Months}}<div class="legend">
<span><i class="full"></i>all present</span> <span><i class="g4"></i>&le;1% missing</span> <span><i class="g3"></i>&le;10%</span> <span><i class="g2"></i>&le;50%</span> <span><i class="g1"></i>&gt;50%</span> <span><i class="g0"></i>none present</span>
<span><i class="full holes"></i>known holes</span> <span><i class="full prov"></i>provisional</span> <span><i class="full restated"></i>restated</span> <span><i class="empty"></i>nothing expected</span>
</div>
<button id="order" type="button" hidden>Order by symbol</button>
<table class="map" id="map">
<thead><tr><th class="s"></th>{{range .Years}}<th class="y" colspan="{{.Span}}">{{.Year}}</th>{{end}}</tr>
<tr><th class="s">series <small>present</small></th>{{range .Months}}<th title="{{.Month}}">{{.Letter}}</th>{{end}}</tr></thead>
<tbody id="rows">
{{range .Rows}}<tr data-series="{{.Key}}" data-by-symbol="{{.BySymbol}}"><th class="s">{{.Label}}<small>{{.Percent}}</small></th>{{$key := .Key}}{{range .Cells}}<td class="{{.Class}}" data-series="{{$key}}" data-month="{{.Month}}"{{if .Coverage}} data-coverage="{{.Coverage}}"{{end}} title="{{.Title}}"></td>{{end}}</tr>
{{end}}</tbody></table>
<script>
(function () {
  var table = document.getElementById("map"), body = document.getElementById("rows"), button = document.getElementById("order");
  var worst = Array.prototype.slice.call(body.rows);
  var bySymbol = worst.slice().sort(function (a, b) { return a.dataset.bySymbol - b.dataset.bySymbol; });
  function show(order) {
    (order === "worst" ? worst : bySymbol).forEach(function (row) { body.appendChild(row); });
    table.dataset.order = order;
    button.textContent = order === "worst" ? "Order by symbol" : "Order by worst coverage";
  }
  button.addEventListener("click", function () { show(table.dataset.order === "worst" ? "symbol" : "worst"); });
  button.hidden = false;
  show("worst");
})();
</script>
{{else}}<p>This report has no coverage by month (an audit run without it).</p>{{end}}
<h2>Gaps</h2>
{{if .Gaps}}<table class="gaps"><thead><tr><th>series</th><th>first</th><th>last</th><th>bars</th></tr></thead><tbody>
{{range .Gaps}}<tr><td>{{.Series}}</td><td>{{.First}}</td><td>{{.Last}}</td><td class="n">{{.Bars}}</td></tr>
{{end}}</tbody></table>
{{if .MoreGaps}}<p>and {{.MoreGaps}} more</p>{{end}}{{else}}<p>None.</p>{{end}}
</body></html>
`))
