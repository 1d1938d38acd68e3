package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/brisk-server/brisk/site"

	"github.com/brisk-server/brisk/internal/testkit"
)

// chromiumPath is where Debian's chromium package installs the browser.
const chromiumPath = "/usr/bin/chromium"

// wasmPath is the module that the demo page instantiates.
const wasmPath = "/pkg/brisk_demo_bg.wasm"

// Precompression has its own, longer bound than the browser: brotli at
// quality 11 of the 1.8 MB demo wasm takes seconds, and ten times that
// under the race detector. Once the variant exists, the browser part takes
// about a second.
const (
	precompressTimeout = 5 * time.Minute
	browserTimeout     = 60 * time.Second
)

// variantsReady is the log line of a store whose variants are all there.
var variantsReady = regexp.MustCompile(`msg="(precompression done|nothing to compress: every variant is ready)"`)

// precompressWithBinary runs `brisk precompress` with args in the brisk
// binary built for tests, not in this test process, which may run under
// -race.
func precompressWithBinary(t *testing.T, args ...string) {
	t.Helper()
	pre := exec.Command(briskBinary(t), append([]string{"precompress"}, args...)...)
	if out, err := pre.CombinedOutput(); err != nil {
		t.Fatalf("brisk precompress: %v\n%s", err, out)
	}
}

// startPrecompressed runs `brisk precompress` on dir with the test binary
// built without the race detector (brotli 11 of the 1.8 MB demo wasm takes
// minutes under it), then serves dir: every variant comes from a sidecar,
// as in a container image.
func startPrecompressed(t *testing.T, dir, encodings string, serveArgs ...string) (string, *testkit.Log) {
	t.Helper()
	precompressWithBinary(t, "--encodings", encodings, dir)
	base, log := startBrisk(t, append(serveArgs, "--encodings", encodings, dir)...)
	log.WaitFor(t, variantsReady, precompressTimeout)
	return base, log
}

// localhostURL is the root page of the brisk at base, on the host name a
// developer opens. Chromium offers br and zstd only to secure origins.
// http://localhost is one; Chromium 156 also treats http://127.0.0.1 as
// one.
func localhostURL(t *testing.T, base string) *url.URL {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = net.JoinHostPort("localhost", u.Port())
	u.Path = "/"
	return u
}

// chromiumOptions start headless Chromium with a fresh profile of its own
// that talks to nothing but localhost, so that browser tests neither need
// nor reach an outside network, and never see a cache from another run.
func chromiumOptions(t *testing.T, chromium string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox, // we run as root, where the sandbox cannot start
		chromedp.Flag("disable-gpu", true),
		chromedp.NoFirstRun,
		// No traffic but to brisk: there may be no outside network. Even
		// with these flags, Chromium 156 looks up accounts.google.com,
		// clients2.google.com and update.googleapis.com, so resolve no name
		// but localhost.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost"),
		chromedp.Flag("disable-dev-shm-usage", true), // /dev/shm is small in containers
		chromedp.UserDataDir(t.TempDir()),            // a fresh profile: nothing cached
	}
}

// newTab starts Chromium (chromiumOptions, then extra) for at most
// timeout and opens a tab whose events it records; the test's cleanups
// close both, and log the tab's console if the test failed.
func newTab(t *testing.T, chromium string, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) (context.Context, *tabEvents) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromiumOptions(t, chromium), extra...)...)
	t.Cleanup(cancelAlloc) // kills Chromium and waits for it
	events := newTabEvents()
	ctx, cancelTab := chromedp.NewContext(ctx, chromedp.WithListener(events.listen))
	t.Cleanup(cancelTab)
	t.Cleanup(func() {
		if t.Failed() {
			console := events.snapshot().console
			t.Logf("browser console (%d messages):\n%s", len(console), strings.Join(console, "\n"))
		}
	})
	return ctx, events
}

// tabRequest is what the browser sent and got for one request.
type tabRequest struct {
	path           string // the URL's path
	resourceType   network.ResourceType
	initiator      network.InitiatorType
	initiatorURL   string            // the page or script, with line, if any
	acceptEncoding string            // as sent on the wire
	availableDict  string            // Available-Dictionary, as sent on the wire
	resp           *network.Response // as the page sees it; nil until the headers arrive
	wireStatus     int64             // as received on the wire; 0 if no response came from the network
	wireBytes      float64           // headers and body as received, once loaded; 0 from a cache
	earlyHints     network.Headers   // of a 103 Early Hints before the response, if one came
	sent, loaded   float64           // when the request started and its body was complete, in DevTools' monotonic seconds
	pieces         int               // how many times body data arrived
}

// tabEvents records what one tab requested, received and said. Its listen
// method runs on chromedp's read loop in the order Chromium sent the
// events, so when a command returns, every event sent before its reply is
// recorded.
type tabEvents struct {
	mu       sync.Mutex
	console  []string // "type: text"; uncaught exceptions have type "exception"
	errors   []string // console errors, uncaught exceptions, browser log errors
	warnings []string // console and browser log warnings, such as unused preloads
	ids      []network.RequestID
	reqs     map[network.RequestID]*tabRequest
}

// tabRecord is a copy of what a tabEvents recorded, to check outside its
// lock; requests in the order they were first seen.
type tabRecord struct {
	console, errors, warnings []string
	reqs                      []tabRequest
}

func newTabEvents() *tabEvents {
	return &tabEvents{reqs: map[network.RequestID]*tabRequest{}}
}

// req returns the record of id, made on first sight: the extra-info events
// may come before the request's own.
func (e *tabEvents) req(id network.RequestID) *tabRequest {
	r := e.reqs[id]
	if r == nil {
		r = &tabRequest{}
		e.reqs[id] = r
		e.ids = append(e.ids, id)
	}
	return r
}

// consoleText is what a page logged, its arguments joined.
func consoleText(ev *runtime.EventConsoleAPICalled) string {
	var args []string
	for _, a := range ev.Args {
		args = append(args, remoteText(a))
	}
	return strings.Join(args, " ")
}

// exceptionText describes an uncaught exception.
func exceptionText(ev *runtime.EventExceptionThrown) string {
	text := ev.ExceptionDetails.Text
	if x := ev.ExceptionDetails.Exception; x != nil {
		text += " " + remoteText(x)
	}
	return text
}

func (e *tabEvents) listen(ev any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		text := consoleText(ev)
		e.console = append(e.console, string(ev.Type)+": "+text)
		switch msg := "console." + string(ev.Type) + ": " + text; ev.Type {
		case runtime.ConsoleAPICalledTypeError, runtime.ConsoleAPICalledTypeAssert:
			e.errors = append(e.errors, msg)
		case runtime.ConsoleAPICalledTypeWarning:
			e.warnings = append(e.warnings, msg)
		}
	case *runtime.EventExceptionThrown:
		msg := "exception: " + exceptionText(ev)
		e.console = append(e.console, msg)
		e.errors = append(e.errors, msg)
	case *cdplog.EventEntryAdded:
		// SRI failures and refused responses come from the browser, not
		// from the page's console API.
		msg := string(ev.Entry.Source) + ": " + ev.Entry.Text
		switch ev.Entry.Level {
		case cdplog.EntryLevelError:
			e.errors = append(e.errors, msg)
		case cdplog.EntryLevelWarning:
			e.warnings = append(e.warnings, msg)
		}
	case *network.EventRequestWillBeSent:
		r := e.req(ev.RequestID)
		if u, err := url.Parse(ev.Request.URL); err == nil {
			r.path = u.Path
		}
		r.sent = ev.Timestamp.Float64()
		r.resourceType = ev.Type
		r.initiator = ev.Initiator.Type
		if ev.Initiator.URL != "" {
			r.initiatorURL = fmt.Sprintf("%s:%.0f", ev.Initiator.URL, ev.Initiator.LineNumber+1)
		}
	case *network.EventResponseReceivedEarlyHints:
		e.req(ev.RequestID).earlyHints = ev.Headers
	case *network.EventDataReceived:
		e.req(ev.RequestID).pieces++
	case *network.EventRequestWillBeSentExtraInfo:
		r := e.req(ev.RequestID)
		r.acceptEncoding = header(ev.Headers, "Accept-Encoding")
		r.availableDict = header(ev.Headers, "Available-Dictionary")
	case *network.EventResponseReceivedExtraInfo:
		// Sent only for a response from the network, and with its real
		// status: a 304 that the cache turned into its stored 200 for the
		// page is a 304 here.
		e.req(ev.RequestID).wireStatus = ev.StatusCode
	case *network.EventResponseReceived:
		e.req(ev.RequestID).resp = ev.Response
	case *network.EventLoadingFinished:
		e.req(ev.RequestID).wireBytes = ev.EncodedDataLength
		e.req(ev.RequestID).loaded = ev.Timestamp.Float64()
	}
}

// snapshot returns a copy of what was recorded so far.
func (e *tabEvents) snapshot() tabRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	rec := tabRecord{console: slices.Clone(e.console), errors: slices.Clone(e.errors), warnings: slices.Clone(e.warnings)}
	for _, id := range e.ids {
		rec.reqs = append(rec.reqs, *e.reqs[id])
	}
	return rec
}

// requestsFor returns the requests for the URL path p.
func requestsFor(reqs []tabRequest, p string) []tabRequest {
	var out []tabRequest
	for _, r := range reqs {
		if r.path == p {
			out = append(out, r)
		}
	}
	return out
}

// remoteText renders a console argument or an exception: a string as it
// is, anything else by its description or JSON value.
func remoteText(o *runtime.RemoteObject) string {
	var s string
	if o.Type == runtime.RemoteObjectTypeString && json.Unmarshal(o.Value, &s) == nil {
		return s
	}
	if o.Description != "" {
		return o.Description
	}
	return string(o.Value)
}

// header looks a name up case-insensitively, as HTTP/1.1 and HTTP/2 spell
// header names differently on the wire.
func header(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

// TestBrowserRunsDemo loads the embedded demo in headless Chromium to check
// what no HTTP-level test can: that a real browser accepts brisk's brotli
// wasm for WebAssembly.instantiateStreaming, runs it, and that the page
// then works. The page also reports what brisk sent, from the browser's
// Resource Timing data; the test holds that report against what DevTools
// saw on the wire: on a first visit, on a reload, on a slow network, in a
// browser whose Resource Timing lacks contentEncoding, and in one without
// WebAssembly.
func TestBrowserRunsDemo(t *testing.T) {
	chromium := testkit.RequireTool(t, chromiumPath)

	// The demo, copied out and precompressed the way an image build does
	// it, so that the race detector does not slow brotli 11 down to
	// minutes; only br, so the wasm must arrive as br, or negotiation went
	// wrong.
	dir := t.TempDir()
	if err := os.CopyFS(dir, site.FS()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	base, _ := startPrecompressed(t, dir, "br")
	t.Logf("brisk started in %s", time.Since(start).Round(time.Millisecond))

	u := localhostURL(t, base)
	files := demoFiles(t)

	ctx, events := newTab(t, chromium, browserTimeout)

	firstVisit := t.Run("first visit", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(u.String())); err != nil {
			t.Fatalf("navigate to %s: %v", u, err)
		}
		if state := waitWasm(ctx, t); state != "ready" {
			t.Fatalf("data-wasm = %q, want ready", state)
		}

		// The glue falls back to WebAssembly.instantiate, and says so, when
		// the browser refuses the response for streaming compilation.
		rec := events.snapshot()
		console, reqs := rec.console, rec.reqs
		for _, m := range console {
			if strings.Contains(m, "instantiateStreaming") || strings.Contains(m, "application/wasm") {
				t.Errorf("streaming compilation failed: %s", m)
			}
		}

		wasm := requestsFor(reqs, wasmPath)
		if len(wasm) == 0 {
			t.Fatalf("no request for %s seen", wasmPath)
		}
		for _, r := range wasm {
			t.Logf("%s: sent Accept-Encoding %q, received %.0f bytes", wasmPath, r.acceptEncoding, r.wireBytes)
			if r.resp == nil {
				t.Errorf("%s: no response", wasmPath)
				continue
			}
			if r.resp.Status != 200 || r.resp.MimeType != "application/wasm" {
				t.Errorf("%s: %d %q, want 200 application/wasm", wasmPath, r.resp.Status, r.resp.MimeType)
			}
			for _, h := range []struct{ name, want string }{
				{"Content-Encoding", "br"},
				{"Vary", "Accept-Encoding"},
			} {
				if got := header(r.resp.Headers, h.name); got != h.want {
					t.Errorf("%s: %s %q, want %q", wasmPath, h.name, got, h.want)
				}
			}
		}

		// Each click runs an export of the wasm module, and the page shows
		// what it returned: the counter, and the Fibonacci number of it.
		for _, step := range []struct {
			click      string // button id; none for the state after start
			count, fib string
		}{
			{"", "0", "0"},
			{"increment", "1", "1"},
			{"add", "11", "89"},
			{"increment", "12", "144"},
		} {
			if step.click != "" {
				if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID(step.click))); err != nil {
					t.Fatalf("click #%s: %v", step.click, err)
				}
			}
			got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
				`["count", "fib-n", "fib"].map(id => document.getElementById(id).textContent)`))
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{step.count, step.count, step.fib}; !slices.Equal(got, want) {
				t.Errorf("after click %q: count, fib-n, fib = %q, want %q", step.click, got, want)
			}
		}

		// The report: every file downloaded whole, as br, smaller than
		// itself; the wasm row shows the numbers behind it.
		rep := readReport(ctx, t)
		reqs = events.snapshot().reqs
		checkReport(t, rep, reqs, files, http.StatusOK)
		row := rep.row(t, wasmPath)
		want := []string{
			shownBytes(row.Transfer), shownBytes(row.Size),
			shownChange(row.Transfer, row.Size),
		}
		if got := row.Cells[3:6]; !slices.Equal(got, want) {
			t.Errorf("wasm row shows transferred, size, saved %q, want %q", got, want)
		}
		rep.wantNote(t, "wasm: running ", "Reload the page")
	})
	if !firstVisit {
		return // the other parts build on it
	}

	// A reload revalidates every file: brisk answers 304, and only headers
	// cross the network.
	t.Run("reload", func(t *testing.T) {
		before := events.snapshot().reqs
		if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
			t.Fatal(err)
		}
		if state := waitWasm(ctx, t); state != "ready" {
			t.Fatalf("data-wasm = %q after the reload, want ready", state)
		}
		rep := readReport(ctx, t)
		reqs := events.snapshot().reqs
		checkReport(t, rep, reqs[len(before):], files, http.StatusNotModified)
		for _, row := range rep.Rows {
			if row.Transfer >= 1000 {
				t.Errorf("%s: %d bytes transferred for a 304, want only headers", row.Path, row.Transfer)
			}
		}
		rep.wantNote(t, "revalidated", "304 Not Modified")
	})

	// On a slow network the wasm is still downloading when the glue calls
	// instantiateStreaming, and the page says that it compiled the module
	// while it downloaded. With the cache off, every file is downloaded
	// again.
	t.Run("slow network", func(t *testing.T) {
		throttle(ctx, t, slowNetwork)
		defer throttle(ctx, t, 0)
		before := events.snapshot().reqs
		if err := chromedp.Do(ctx, chromedp.Navigate(u.String())); err != nil {
			t.Fatal(err)
		}
		if state := waitWasm(ctx, t); state != "ready" {
			t.Fatalf("data-wasm = %q, want ready", state)
		}
		rep := readReport(ctx, t)
		reqs := events.snapshot().reqs
		checkReport(t, rep, reqs[len(before):], files, http.StatusOK)
		rep.wantNote(t, "It was compiled while it downloaded")
	})

	// Browsers whose Resource Timing lacks contentEncoding (Firefox and
	// Safari, as of this writing) get the encoding from the response in
	// their HTTP cache, without a request to brisk. A new tab, sharing the
	// cache of the first, that lacks it.
	t.Run("without contentEncoding", func(t *testing.T) {
		events := newTabEvents()
		ctx, cancelTab := chromedp.NewContext(ctx, chromedp.WithListener(events.listen))
		defer cancelTab()
		if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: "delete PerformanceResourceTiming.prototype.contentEncoding;",
		}); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(u.String())); err != nil {
			t.Fatalf("navigate to %s: %v", u, err)
		}
		if state := waitWasm(ctx, t); state != "ready" {
			t.Fatalf("data-wasm = %q, want ready", state)
		}
		rep := readReport(ctx, t)
		reqs := events.snapshot().reqs
		checkReport(t, rep, reqs, files, http.StatusNotModified)
	})

	// Without WebAssembly (as in a browser that has it turned off, such as
	// Safari in Lockdown Mode) the page says so, and still reports what
	// brisk sent. A new tab, whose pages lose WebAssembly before any of
	// their scripts run, with the cache off so that every file is
	// downloaded.
	t.Run("without WebAssembly", func(t *testing.T) {
		events := newTabEvents()
		ctx, cancelTab := chromedp.NewContext(ctx, chromedp.WithListener(events.listen))
		defer cancelTab()
		if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: "delete globalThis.WebAssembly;",
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
			t.Fatal(err)
		}

		if err := chromedp.Do(ctx, chromedp.Navigate(u.String())); err != nil {
			t.Fatalf("navigate to %s: %v", u, err)
		}
		if state := waitWasm(ctx, t); state != "unsupported" {
			t.Fatalf("data-wasm = %q, want unsupported", state)
		}
		shown, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[
			document.getElementById("error").hidden ? "" : document.getElementById("error").textContent,
			String([...document.querySelectorAll("button")].every(b => b.disabled)),
		]`))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(shown[0], "WebAssembly turned off") || shown[1] != "true" {
			t.Errorf("page shows %q, buttons disabled: %s; want a message about WebAssembly and disabled buttons", shown[0], shown[1])
		}
		rep := readReport(ctx, t)
		reqs := events.snapshot().reqs
		checkReport(t, rep, reqs, files, http.StatusOK)
		rep.wantNote(t, "did not start")
	})
}

// waitWasm waits for the demo page to leave data-wasm="loading" and
// returns its new state: ready, error or unsupported.
func waitWasm(ctx context.Context, t *testing.T) string {
	t.Helper()
	state, err := waitReady(ctx, browserTimeout)
	if err != nil {
		t.Fatalf("waiting for data-wasm: %v", err)
	}
	if state == "error" {
		pageError, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("error").textContent`))
		t.Logf("page says %q", pageError)
	}
	return state
}
