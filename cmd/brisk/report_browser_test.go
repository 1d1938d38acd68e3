package main

import (
	"context"
	"io/fs"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/brisk-server/brisk/site"
)

// This file reads the demo page's report of what brisk sent (the "What
// brisk sent" table, filled in from the browser's Resource Timing data) and
// holds it against what DevTools saw on the wire.

// demoReport is the report as the page shows it.
type demoReport struct {
	State string      `json:"state"` // ready or error
	Error string      `json:"error"` // the table's text, in the error state
	Rows  []reportRow `json:"rows"`
	Notes []string    `json:"notes"`
}

// reportRow is one row of the table: the numbers behind it, from its data
// attributes, and its cells as shown.
type reportRow struct {
	Path     string   `json:"path"`
	Status   string   `json:"status"`   // 200, 304 or cache
	Encoding string   `json:"encoding"` // Content-Encoding; empty for none
	Transfer int64    `json:"transfer"` // transferSize
	Size     int64    `json:"size"`     // decoded size
	Cells    []string `json:"cells"`    // file, status, encoding, transferred, size, saved, protocol
}

// reportColumns is how many cells a row has.
const reportColumns = 7

// readReportJS returns the report once the page has filled it in, and
// false before.
const readReportJS = `(() => {
	const table = document.getElementById("report");
	if (!table || table.dataset.state === "loading") return false;
	return {
		state: table.dataset.state,
		error: table.dataset.state === "error" ? table.tBodies[0].textContent : "",
		rows: [...table.tBodies[0].rows].filter((tr) => "path" in tr.dataset).map((tr) => ({
			path: tr.dataset.path,
			status: tr.dataset.status,
			encoding: tr.dataset.encoding,
			transfer: Number(tr.dataset.transfer),
			size: Number(tr.dataset.size),
			cells: [...tr.cells].map((c) => c.textContent),
		})),
		notes: [...document.querySelectorAll("#report-notes li")].map((li) => li.textContent),
	};
})()`

// readReport waits for the page's report and returns it, logged as the page
// shows it.
func readReport(ctx context.Context, t *testing.T) *demoReport {
	t.Helper()
	rep, err := chromedp.Run(ctx, chromedp.Poll[*demoReport](readReportJS,
		chromedp.WithPollingTimeout(browserTimeout)))
	if err != nil {
		t.Fatalf("waiting for the report: %v", err)
	}
	if rep.State != "ready" {
		t.Fatalf("report %s: %s", rep.State, rep.Error)
	}
	var b strings.Builder
	for _, row := range rep.Rows {
		b.WriteString("\n  " + strings.Join(row.Cells, " | "))
	}
	for _, n := range rep.Notes {
		b.WriteString("\n  - " + n)
	}
	t.Logf("the page reports:%s", b.String())
	return rep
}

// row returns the row for path.
func (r *demoReport) row(t *testing.T, path string) reportRow {
	t.Helper()
	for _, row := range r.Rows {
		if row.Path == path {
			return row
		}
	}
	t.Fatalf("report has no row for %s", path)
	return reportRow{}
}

// wantNote checks that some note under the table contains each of subs.
func (r *demoReport) wantNote(t *testing.T, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		found := false
		for _, n := range r.Notes {
			found = found || strings.Contains(n, sub)
		}
		if !found {
			t.Errorf("no note says %q; notes:\n%s", sub, strings.Join(r.Notes, "\n"))
		}
	}
}

// demoFiles returns the size of each file of the demo by the URL path that
// serves it.
func demoFiles(t *testing.T) map[string]int64 {
	t.Helper()
	files := map[string]int64{}
	err := fs.WalkDir(site.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		path := "/" + name
		if name == "index.html" {
			path = "/"
		}
		files[path] = info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// checkReport holds the report against the demo's files and the requests
// DevTools saw since the page was requested: the table has a row for every
// file, the one request per file that reached brisk was answered with
// status, the file's real size is right, and it arrived as br (the only
// encoding precompressed, and every file of the demo is worth compressing)
// in fewer bytes than its size.
func checkReport(t *testing.T, rep *demoReport, reqs []tabRequest, files map[string]int64, status int) {
	t.Helper()
	seen := map[string]bool{}
	for _, row := range rep.Rows {
		seen[row.Path] = true
		if len(row.Cells) != reportColumns {
			t.Errorf("%s: %d cells, want %d", row.Path, len(row.Cells), reportColumns)
			continue
		}
		size, ok := files[row.Path]
		if !ok {
			t.Errorf("report has a row for %s, which is not a file of the demo", row.Path)
			continue
		}

		var wire []tabRequest
		for _, r := range requestsFor(reqs, row.Path) {
			if r.wireStatus != 0 {
				wire = append(wire, r)
			}
		}
		switch {
		case len(wire) != 1:
			t.Errorf("%s: %d requests reached brisk, want 1", row.Path, len(wire))
		case wire[0].wireStatus != int64(status):
			t.Errorf("%s: brisk answered %d, want %d", row.Path, wire[0].wireStatus, status)
		case status == 200 && wire[0].resp != nil && header(wire[0].resp.Headers, "Content-Encoding") != row.Encoding:
			t.Errorf("%s: the page says encoding %q, the wire %q", row.Path, row.Encoding, header(wire[0].resp.Headers, "Content-Encoding"))
		}

		if want := strconv.Itoa(status); row.Status != want || row.Cells[1] != want {
			t.Errorf("%s: status %q shown as %q, want %s", row.Path, row.Status, row.Cells[1], want)
		}
		if row.Encoding != "br" || row.Cells[2] != "br" {
			t.Errorf("%s: encoding %q shown as %q, want br", row.Path, row.Encoding, row.Cells[2])
		}
		if row.Size != size {
			t.Errorf("%s: size %d, want the file's %d", row.Path, row.Size, size)
		}
		if row.Transfer <= 0 || row.Transfer >= row.Size {
			t.Errorf("%s: %d bytes transferred for %d, want fewer but some", row.Path, row.Transfer, row.Size)
		}
	}
	for path := range files {
		if !seen[path] {
			t.Errorf("report has no row for %s", path)
		}
	}
}

// shownBytes is n as the report shows it: decimal units, three digits at
// most, a no-break space before the unit.
func shownBytes(n int64) string {
	if n < 1000 {
		return strconv.FormatInt(n, 10) + "\u00a0B"
	}
	unit, v := "kB", float64(n)/1e3
	if n >= 999_500 {
		unit, v = "MB", float64(n)/1e6
	}
	digits := 0
	if v < 9.95 {
		digits = 1
	}
	return strconv.FormatFloat(v, 'f', digits, 64) + "\u00a0" + unit
}

// shownChange is the report's "Saved" column for a change from size to
// transfer bytes, away from ±100 %: a whole percentage with its sign.
func shownChange(transfer, size int64) string {
	p := math.Round((float64(transfer)/float64(size) - 1) * 100)
	switch {
	case p < 0:
		return "\u2212" + strconv.FormatFloat(-p, 'f', 0, 64) + "\u00a0%"
	case p > 0:
		return "+" + strconv.FormatFloat(p, 'f', 0, 64) + "\u00a0%"
	}
	return "0\u00a0%"
}

// slowNetwork is the download rate, in bytes per second, at which the demo's
// wasm takes about a second and a half to arrive as br: long enough for the
// page's scripts to start compiling it before its last byte, even on a
// loaded machine.
const slowNetwork = 300_000

// throttle turns the browser's cache off and limits downloads to rate bytes
// per second, or, with rate 0, turns the cache back on and lifts the limit.
func throttle(ctx context.Context, t *testing.T, rate float64) {
	t.Helper()
	conditions := []*network.Conditions{}
	if rate > 0 {
		conditions = append(conditions, &network.Conditions{DownloadThroughput: rate, UploadThroughput: -1})
	}
	if _, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: rate > 0}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: conditions,
	}); err != nil {
		t.Fatal(err)
	}
}
