package audit_test

import (
	"bytes"
	"encoding/json"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"marketfleet/audit"
	"marketfleet/internal/testenv"
	"marketfleet/market"
	"marketfleet/store"
)

// The browser window the page is laid out in and photographed at.
const winWidth, winHeight = 1200, 700

func month(y int, m time.Month) time.Time { return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC) }

// heatmapReport is three daily series over 14 months (2023-01..2024-02),
// 20 bars expected a month:
//   - AAPL: everything present but one known hole in 2023-09, and 3
//     provisional bars in 2024-02;
//   - MSFT: from 2023-03 only, one bar missing in 2024-01, restated by a
//     split on 2023-11-15;
//   - TSLA: 5 bars missing in 2023-06 (75% present).
//
// Worst first they are TSLA, MSFT, AAPL: the reverse of symbol order.
func heatmapReport() (audit.Report, []store.SeriesRestatement) {
	series := func(symbol string, from time.Month, edit func(*store.MonthCoverage)) store.SeriesAudit {
		s := store.SeriesAudit{Series: market.Series{Symbol: symbol, Interval: market.Interval1d}, Exchange: store.USExchange}
		for m := month(2023, from); !m.After(month(2024, time.February)); m = m.AddDate(0, 1, 0) {
			c := store.MonthCoverage{Month: m, Expected: 20, Present: 20}
			edit(&c)
			s.Months = append(s.Months, c)
			s.Expected += c.Expected
			s.Present += c.Present
			s.Holes += c.Holes
			s.Provisional += c.Provisional
			s.Stored += c.Present
		}
		s.Missing = s.Expected - s.Present - s.Holes
		s.First, s.Last = s.Months[0].Month, s.Months[len(s.Months)-1].Month.AddDate(0, 1, -1)
		return s
	}
	aapl := series("AAPL", time.January, func(c *store.MonthCoverage) {
		switch c.Month {
		case month(2023, time.September):
			c.Present, c.Holes = 19, 1
		case month(2024, time.February):
			c.Provisional = 3
		}
	})
	msft := series("MSFT", time.March, func(c *store.MonthCoverage) {
		if c.Month.Equal(month(2024, time.January)) {
			c.Present = 19
		}
	})
	msft.Gaps = []store.Gap{{First: time.Date(2024, 1, 10, 0, 0, 0, 0, time.UTC), Last: time.Date(2024, 1, 10, 0, 0, 0, 0, time.UTC), Bars: 1}}
	tsla := series("TSLA", time.January, func(c *store.MonthCoverage) {
		if c.Month.Equal(month(2023, time.June)) {
			c.Present = 15
		}
	})
	tsla.Gaps = []store.Gap{{First: time.Date(2023, 6, 12, 0, 0, 0, 0, time.UTC), Last: time.Date(2023, 6, 16, 0, 0, 0, 0, time.UTC), Bars: 5}}

	all := []store.SeriesAudit{aapl, msft, tsla}
	r := audit.Report{At: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC), Took: 1234 * time.Millisecond,
		Scope: "symbol=<b>", Series: all, Totals: audit.Sum(all)}
	restated := []store.SeriesRestatement{{Series: msft.Series, ExDate: time.Date(2023, 11, 15, 0, 0, 0, 0, time.UTC), Kind: market.Split}}
	return r, restated
}

// writePage writes the report's page to a temp file and returns its path
// and bytes.
func writePage(t *testing.T) (string, []byte) {
	t.Helper()
	r, restated := heatmapReport()
	var buf bytes.Buffer
	if err := audit.WriteHTML(&buf, r, restated); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.html")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, buf.Bytes()
}

var (
	tagRE  = regexp.MustCompile(`<(td|tr)\s[^>]*data-series="[^"]*"[^>]*>`)
	attrRE = regexp.MustCompile(`([a-z-]+)="([^"]*)"`)
)

// heatmap parses a serialized page: its rows' series in document order and
// the attributes of its cells by "series month".
func heatmap(t *testing.T, dom string) (rows []string, cells map[string]map[string]string) {
	t.Helper()
	cells = map[string]map[string]string{}
	for _, m := range tagRE.FindAllStringSubmatch(dom, -1) {
		attrs := map[string]string{}
		for _, a := range attrRE.FindAllStringSubmatch(m[0], -1) {
			attrs[a[1]] = html.UnescapeString(a[2])
		}
		if m[1] == "tr" {
			rows = append(rows, attrs["data-series"])
		} else {
			cells[attrs["data-series"]+" "+attrs["data-month"]] = attrs
		}
	}
	if len(cells) != 3*14 {
		t.Fatalf("%d heatmap cells, want 3 series x 14 months", len(cells))
	}
	return rows, cells
}

func TestWriteHTMLSelfContained(t *testing.T) {
	_, page := writePage(t)
	lower := strings.ToLower(string(page))
	for _, bad := range []string{"http:", "https:", "//", "src=", "href", "<link", "<img", "<iframe", "<object", "<embed", "@import", "url("} {
		if strings.Contains(lower, bad) {
			t.Errorf("the page holds %q: it must load nothing", bad)
		}
	}
	if !strings.Contains(string(page), "symbol=&lt;b&gt;") || strings.Contains(string(page), "<b>") {
		t.Error("the scope is not escaped")
	}
	for _, want := range []string{"<td>TSLA/1d</td><td>2023-06-12</td><td>2023-06-16</td><td class=\"n\">5</td>", "1.234s"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// probe, appended to the page, records where the cells are (before any
// click) and the row order after clicking the order button, as JSON in the
// title: it does not change the layout.
const probe = `<script>
(function () {
  var out = {width: innerWidth, height: innerHeight, scale: devicePixelRatio, cells: {}};
  document.querySelectorAll("td[data-series]").forEach(function (td) {
    var r = td.getBoundingClientRect();
    out.cells[td.dataset.series + " " + td.dataset.month] = [r.left, r.top, r.width, r.height];
  });
  document.getElementById("order").click();
  out.clicked = Array.prototype.map.call(document.querySelectorAll("#rows tr"), function (tr) { return tr.dataset.series; });
  document.title = JSON.stringify(out);
})();
</script>`

type probed struct {
	Width, Height int
	Scale         float64
	Cells         map[string][4]float64
	Clicked       []string
}

func TestWriteHTMLInBrowser(t *testing.T) {
	path, page := writePage(t)

	// The page as the browser built it, after its script ran.
	dom := testenv.DumpDOM(t, path, winWidth, winHeight)
	if !regexp.MustCompile(`<table[^>]*data-order="worst"`).MatchString(dom) ||
		!strings.Contains(dom, `<button id="order" type="button">Order by symbol</button>`) {
		t.Errorf("the script did not run: no data-order=worst on the table, or the order button still hidden")
	}
	rows, cells := heatmap(t, dom)
	if want := []string{"TSLA/1d", "MSFT/1d", "AAPL/1d"}; !slices.Equal(rows, want) {
		t.Errorf("rows %v, want worst first %v", rows, want)
	}
	for _, c := range []struct{ cell, class, coverage, title string }{
		{"TSLA/1d 2023-06", "gap g2", "0.7500", "15 of 20 expected bars present"},
		{"TSLA/1d 2023-02", "full", "1.0000", ""},
		{"MSFT/1d 2024-01", "gap g3", "0.9500", "missing 1"},
		{"MSFT/1d 2023-11", "full restated", "1.0000", "restated: split"},
		{"MSFT/1d 2023-01", "empty", "", "nothing expected"},
		{"AAPL/1d 2023-09", "hole holes", "1.0000", "known holes 1"},
		{"AAPL/1d 2024-02", "full prov", "1.0000", "provisional 3"},
	} {
		a := cells[c.cell]
		if a["class"] != c.class || a["data-coverage"] != c.coverage || !strings.Contains(a["title"], c.title) {
			t.Errorf("cell %s: class %q, data-coverage %q, title %q; want %q, %q, a title with %q",
				c.cell, a["class"], a["data-coverage"], a["title"], c.class, c.coverage, c.title)
		}
	}

	// Where the cells are, and the order button at work.
	withProbe := filepath.Join(t.TempDir(), "probe.html")
	if err := os.WriteFile(withProbe, append(slices.Clip(page), probe...), 0o644); err != nil {
		t.Fatal(err)
	}
	title := regexp.MustCompile(`<title>(.*)</title>`).FindStringSubmatch(testenv.DumpDOM(t, withProbe, winWidth, winHeight))
	if title == nil {
		t.Fatal("the probe wrote no title")
	}
	var p probed
	if err := json.Unmarshal([]byte(html.UnescapeString(title[1])), &p); err != nil {
		t.Fatalf("probe result %q: %v", title[1], err)
	}
	if want := []string{"AAPL/1d", "MSFT/1d", "TSLA/1d"}; !slices.Equal(p.Clicked, want) {
		t.Errorf("rows after clicking the order button %v, want by symbol %v", p.Clicked, want)
	}
	// Headless chromium reports a viewport shorter than the window (it keeps
	// room for a frame it does not draw), but lays the page out at the
	// window's width and photographs the window from the page's top: the
	// boxes are the screenshot's pixels.
	if p.Width != winWidth || p.Scale != 1 {
		t.Fatalf("viewport %dx%d at scale %g, want %d wide at 1", p.Width, p.Height, p.Scale, winWidth)
	}

	// The picture: a gap month is red, a full month of the same row green,
	// a month with nothing expected grey.
	img := testenv.Screenshot(t, path, winWidth, winHeight)
	if b := img.Bounds(); b.Dx() != winWidth || b.Dy() != winHeight {
		t.Fatalf("screenshot %v, want %dx%d", b, winWidth, winHeight)
	}
	pixel := func(cell string) (r, g, b int) {
		box, ok := p.Cells[cell]
		if !ok {
			t.Fatalf("no cell %s", cell)
		}
		x, y := int(box[0]+box[2]/2), int(box[1]+box[3]/2)
		if box[2] < 10 || box[3] < 10 || x >= p.Width || y >= p.Height {
			t.Fatalf("cell %s at %v: not a visible 14 px cell in the %dx%d viewport", cell, box, p.Width, p.Height)
		}
		r32, g32, b32, _ := img.At(x, y).RGBA()
		return int(r32 >> 8), int(g32 >> 8), int(b32 >> 8)
	}
	if r, g, b := pixel("TSLA/1d 2023-06"); r < g+60 {
		t.Errorf("gap month TSLA 2023-06 is rgb(%d,%d,%d), want red well above green", r, g, b)
	}
	if r, g, b := pixel("TSLA/1d 2023-02"); g < r+60 {
		t.Errorf("full month TSLA 2023-02 is rgb(%d,%d,%d), want green well above red", r, g, b)
	}
	if r, g, b := pixel("MSFT/1d 2023-01"); max(r, g, b)-min(r, g, b) > 20 || r < 150 {
		t.Errorf("empty month MSFT 2023-01 is rgb(%d,%d,%d), want a light grey", r, g, b)
	}
}
