package main

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/brisk-server/brisk/server"
	"github.com/brisk-server/brisk/site"

	"github.com/brisk-server/brisk/internal/testkit"
)

// trunkSite is the demo app laid out as Trunk writes its dist directory:
// glue, wasm and stylesheet at the top, each named after a hash of its
// content, so that brisk's cache policy must recognise them as immutable.
// The pages are made from the demo's own index.html, so that they run the
// same app and set data-wasm the same way. The page's report script keeps
// its name, as Trunk's copy-file does.
type trunkSite struct {
	dir           string
	js, wasm, css string            // file names, at the top of dir
	wasmData      []byte            // the wasm's bytes
	integrity     map[string]string // file name → value of an integrity attribute
	demoPage      string            // the demo's index.html, which page adapts
}

// writeTrunkSite writes the hashed glue, wasm and stylesheet into dir. The
// glue is patched to load the hashed wasm name before it is hashed itself,
// as Trunk's glue names the wasm it was built with.
func writeTrunkSite(t *testing.T, dir string) *trunkSite { return writeTrunkBuild(t, dir, 0) }

// writeTrunkBuild is writeTrunkSite for a numbered rebuild of the app:
// from build 1 on, the wasm carries the number in a custom section (which
// engines ignore) and the glue sets data-build on the page, so that each
// build has new hashed names and a page can tell which build runs.
func writeTrunkBuild(t *testing.T, dir string, build int) *trunkSite {
	t.Helper()
	read := func(name string) []byte {
		data, err := fs.ReadFile(site.FS(), name)
		if err != nil {
			t.Fatalf("demo app: %v", err)
		}
		return data
	}
	s := &trunkSite{dir: dir, integrity: map[string]string{}, demoPage: string(read("index.html"))}
	put := func(suffix string, data []byte) string {
		sum := sha256.Sum256(data)
		name := "brisk_demo-" + hex.EncodeToString(sum[:])[:16] + suffix
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		// The browser checks integrity on the decoded body, so the digest
		// is of the file itself, whatever encoding brisk sends it in.
		digest := sha512.Sum384(data)
		s.integrity[name] = "sha384-" + base64.StdEncoding.EncodeToString(digest[:])
		return name
	}
	wasm, glue := read("pkg/brisk_demo_bg.wasm"), string(read("pkg/brisk_demo.js"))
	if build > 0 {
		wasm = append(wasm, customSection("brisk-build", fmt.Sprint(build))...)
		glue = fmt.Sprintf("document.documentElement.dataset.build = %q;\n", fmt.Sprint(build)) + glue
	}
	s.wasm, s.wasmData = put("_bg.wasm", wasm), wasm
	s.js = put(".js", []byte(replaceOnce(t, glue,
		`new URL("brisk_demo_bg.wasm", import.meta.url)`,
		`new URL("`+s.wasm+`", import.meta.url)`)))
	s.css = put(".css", read("pkg/brisk_demo.css"))
	if err := os.WriteFile(filepath.Join(dir, "report.js"), read("report.js"), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// customSection encodes a wasm custom section (id 0) holding text.
func customSection(name, text string) []byte {
	payload := append(uleb128(len(name)), name...)
	payload = append(payload, text...)
	return append(append([]byte{0}, uleb128(len(payload))...), payload...)
}

func uleb128(n int) []byte {
	var out []byte
	for {
		b := byte(n & 0x7f)
		if n >>= 7; n == 0 {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

// trunkPage shapes a page made from the demo's index.html.
type trunkPage struct {
	// preloads keeps the modulepreload and preload links, as Trunk writes
	// them: with crossorigin and integrity. Without them the browser
	// learns of the wasm only when the glue asks for it.
	preloads bool
	// filler puts about this many bytes of text before the module script,
	// so that the parser reaches it late, as in a large page.
	filler int
	// marks puts two moments on the performance timeline: "app-start",
	// when the module script starts, and "wasm-ready", when data-wasm
	// becomes ready.
	marks bool
}

// page writes the page into the site's directory under name. The demo's
// markup is replaced piece by piece, each piece exactly once, so that a
// change to the demo fails here instead of making a page that tests
// nothing.
func (s *trunkSite) page(t *testing.T, name string, p trunkPage) {
	t.Helper()
	html := s.demoPage
	var js, wasm string
	if p.preloads {
		js = `<link rel="modulepreload" href="/` + s.js + `" crossorigin integrity="` + s.integrity[s.js] + `">`
		wasm = `<link rel="preload" href="/` + s.wasm + `" as="fetch" type="application/wasm" crossorigin integrity="` +
			s.integrity[s.wasm] + `">`
	}
	html = replaceOnce(t, html, `<link rel="stylesheet" href="/pkg/brisk_demo.css">`,
		`<link rel="stylesheet" href="/`+s.css+`" integrity="`+s.integrity[s.css]+`">`)
	html = replaceOnce(t, html, `<link rel="modulepreload" href="/pkg/brisk_demo.js">`, js)
	html = replaceOnce(t, html, `<link rel="preload" href="/pkg/brisk_demo_bg.wasm" as="fetch" type="application/wasm" crossorigin>`, wasm)
	html = replaceOnce(t, html, `import("/pkg/brisk_demo.js")`, `import("/`+s.js+`")`)
	if p.marks {
		// Before the stylesheet: an inline script after it would wait for
		// it, and hold up the parser.
		html = replaceOnce(t, html, "</title>", "</title>\n  <script>"+markReadyScript+"</script>")
		html = replaceOnce(t, html, `<script type="module">`, `<script type="module">performance.mark("app-start");`)
	}
	if p.filler > 0 {
		html = replaceOnce(t, html, `<script type="module">`, fillerHTML(p.filler)+`<script type="module">`)
	}
	if err := os.WriteFile(filepath.Join(s.dir, name), []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
}

// markReadyScript records when the app became ready without changing the
// demo's script, which sets data-wasm.
const markReadyScript = `new MutationObserver((_, obs) => {
    if (document.documentElement.dataset.wasm === "ready") {
      performance.mark("wasm-ready");
      obs.disconnect();
    }
  }).observe(document.documentElement, { attributeFilter: ["data-wasm"] });`

// fillerHTML returns about n bytes of paragraphs.
func fillerHTML(n int) string {
	var b strings.Builder
	b.WriteString("<section>\n")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "<p>Paragraph %d of a long page: the parser reads all of this before it reaches the script that starts the app.</p>\n", i)
	}
	b.WriteString("</section>\n  ")
	return b.String()
}

// replaceOnce replaces old in s, which must occur exactly once.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("want %q once in the demo app, found it %d times", old, n)
	}
	return strings.Replace(s, old, new, 1)
}

// waitReady polls data-wasm until the demo's script has settled it, and
// returns its value.
func waitReady(ctx context.Context, timeout time.Duration) (string, error) {
	return chromedp.Run(ctx, chromedp.Poll[string](
		`(s => s !== "loading" && s)(document.documentElement.dataset.wasm)`,
		chromedp.WithPollingInterval(10*time.Millisecond),
		chromedp.WithPollingTimeout(timeout)))
}

// TestBrowserTrunkStylePage serves a dist directory laid out as Trunk
// writes one, hashed names and integrity attributes included, and loads a
// deep link of the single-page app in Chromium. Only a browser shows that
// the pieces fit: the SPA fallback answers the deep link with the app,
// integrity holds for brotli bodies, the hashed names are cached for good
// and the page itself is not, and the Link header names what the page
// preloads.
func TestBrowserTrunkStylePage(t *testing.T) {
	chromium := testkit.RequireTool(t, chromiumPath)

	s := writeTrunkSite(t, t.TempDir())
	s.page(t, "index.html", trunkPage{preloads: true})

	start := time.Now()
	base, log := startPrecompressed(t, s.dir, "br", "--spa")
	t.Logf("brisk started and precompressed in %s", time.Since(start).Round(time.Millisecond))

	u := localhostURL(t, base)
	u.Path = "/some/deep/route"

	ctx, events := newTab(t, chromium, browserTimeout)
	defer func() {
		if t.Failed() {
			rec := events.snapshot()
			errs, warnings := rec.errors, rec.warnings
			t.Logf("browser errors:\n%s\nwarnings:\n%s\nbrisk log:\n%s",
				strings.Join(errs, "\n"), strings.Join(warnings, "\n"), log.String())
		}
	}()

	if err := chromedp.Do(ctx, chromedp.Navigate(u.String())); err != nil {
		t.Fatalf("navigate to %s: %v", u, err)
	}
	if state, err := waitReady(ctx, browserTimeout); err != nil || state != "ready" {
		pageError, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("error").textContent`))
		t.Fatalf("data-wasm = %q (%v), want ready; page says %q", state, err, pageError)
	}

	rec := events.snapshot()
	errs, warnings, reqs := rec.errors, rec.warnings, rec.reqs
	for _, m := range errs {
		t.Errorf("browser error: %s", m)
	}
	for _, m := range warnings {
		t.Logf("browser warning: %s", m)
	}

	pages := requestsFor(reqs, u.Path)
	if len(pages) != 1 || pages[0].resp == nil {
		t.Fatalf("%d responses for %s, want 1", len(pages), u.Path)
	}
	page := pages[0]
	t.Logf("%s: sent Accept-Encoding %q; got %d, Content-Encoding %q, Link %q; 103 Early Hints: %v",
		u.Path, page.acceptEncoding, page.resp.Status, header(page.resp.Headers, "Content-Encoding"),
		header(page.resp.Headers, "Link"), page.earlyHints != nil)
	if page.resp.Status != 200 || !strings.HasPrefix(page.resp.MimeType, "text/html") {
		t.Errorf("%s: %d %q, want 200 text/html", u.Path, page.resp.Status, page.resp.MimeType)
	}
	if got := header(page.resp.Headers, "Cache-Control"); got != server.DefaultCacheControl {
		t.Errorf("%s: Cache-Control %q, want %q", u.Path, got, server.DefaultCacheControl)
	}
	link := header(page.resp.Headers, "Link")
	for _, name := range []string{s.js, s.wasm} {
		if !strings.Contains(link, "</"+name+">") {
			t.Errorf("%s: Link %q does not name %s", u.Path, link, name)
		}
	}

	for _, name := range []string{s.js, s.wasm, s.css} {
		got := requestsFor(reqs, "/"+name)
		if len(got) == 0 {
			t.Errorf("/%s: never requested", name)
		}
		for _, r := range got {
			if r.resp == nil {
				t.Errorf("/%s (%s): no response", name, r.resourceType)
				continue
			}
			// A file the Link header preloaded is asked for again by the
			// page's own link, and Chromium answers that from memory.
			source := "not over the network"
			if r.wireBytes > 0 {
				source = fmt.Sprintf("%.0f bytes over the network", r.wireBytes)
			}
			by := string(r.initiator)
			if r.initiatorURL != "" {
				by += " " + r.initiatorURL
			}
			t.Logf("/%s: %s request started by %s, %s; sent Accept-Encoding %q; got %d, Content-Encoding %q, Cache-Control %q",
				name, r.resourceType, by, source, r.acceptEncoding, r.resp.Status,
				header(r.resp.Headers, "Content-Encoding"), header(r.resp.Headers, "Cache-Control"))
			if r.resp.Status != 200 {
				t.Errorf("/%s: status %d, want 200", name, r.resp.Status)
			}
			for _, h := range []struct{ name, want string }{
				{"Cache-Control", server.ImmutableCacheControl},
				{"Content-Encoding", "br"},
			} {
				if got := header(r.resp.Headers, h.name); got != h.want {
					t.Errorf("/%s: %s %q, want %q", name, h.name, got, h.want)
				}
			}
		}
	}
}

// Bounds of the timing test: each load gets loadTimeout; the whole browser
// part, warm-up included, timingTimeout.
const (
	timingRounds  = 5
	loadTimeout   = 20 * time.Second
	timingTimeout = 3 * time.Minute
	fillerBytes   = 200 << 10
)

// pageTiming is what one load of a timing page measured, in milliseconds
// from the start of the navigation.
type pageTiming struct {
	NavResponseEnd float64 `json:"navResponseEnd"`
	DOMInteractive float64 `json:"domInteractive"` // the parser is done
	AppStart       float64 `json:"appStart"`       // the module script starts
	Ready          float64 `json:"ready"`          // data-wasm is ready
	// Resource timing entries for the wasm: one, unless a preload went
	// unused and the glue fetched it again.
	Wasm []struct {
		Start float64 `json:"start"`
		End   float64 `json:"end"`
	} `json:"wasm"`
	// From the network events, not the page.
	link           bool                    // the page's response had a Link header
	earlyHints     bool                    // Chromium reported a 103 Early Hints for the page
	wasmInitiators []network.InitiatorType // of the wasm requests that went to the server
}

// timingScript reads the timeline of a page whose app is ready.
const timingScript = `(() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const mark = (name) => performance.getEntriesByName(name)[0]?.startTime ?? -1;
  return {
    navResponseEnd: nav.responseEnd,
    domInteractive: nav.domInteractive,
    appStart: mark("app-start"),
    ready: mark("wasm-ready"),
    wasm: performance.getEntriesByType("resource")
      .filter((e) => e.name.endsWith("_bg.wasm"))
      .map((e) => ({ start: e.startTime, end: e.responseEnd })),
  };
})()`

// TestBrowserPreloadTiming measures whether brisk's Link header makes the
// browser start on the wasm earlier than the page's own preload links do.
// It logs what it measured and asserts only that every load worked:
// timings on a shared machine are too noisy to fail on.
//
// brisk builds the Link header from the page's links, so it cannot send
// one for a page without them; instead these loads are compared. A: brisk,
// the page with links, so the Link header too. B: brisk, the page without
// links: the wasm is found only when the glue runs. C: a plain
// http.FileServer, the page with links: the browser has the links alone.
// D, the file server with the page without links, tells what the server
// itself costs apart from what the hints save. Chromium heeds 103 Early
// Hints only over HTTP/2, and brisk speaks HTTP/1.1 here, so A differs from
// C by the Link header of the 200, read as soon as the headers arrive, and
// by brisk's brotli, which the file server lacks.
func TestBrowserPreloadTiming(t *testing.T) {
	// A measurement, not a check: over a minute of page loads whose
	// figures only a person reads. Run it with BRISK_BROWSER_TIMING=1.
	if os.Getenv("BRISK_BROWSER_TIMING") == "" {
		t.Skip("a measurement; set BRISK_BROWSER_TIMING=1 to run it")
	}
	chromium := testkit.RequireTool(t, chromiumPath)

	s := writeTrunkSite(t, t.TempDir())
	s.page(t, "with.html", trunkPage{preloads: true, filler: fillerBytes, marks: true})
	s.page(t, "without.html", trunkPage{filler: fillerBytes, marks: true})

	base, _ := startPrecompressed(t, s.dir, "br")
	briskURL := localhostURL(t, base)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	files := &http.Server{Handler: http.FileServer(http.Dir(s.dir)), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := files.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("file server: %v", err)
		}
	}()
	t.Cleanup(func() { files.Close() })
	filesURL := localhostURL(t, "http://"+ln.Addr().String())

	variants := []struct {
		name string
		url  string
	}{
		{"A brisk, links + Link header", briskURL.JoinPath("with.html").String()},
		{"B brisk, no links", briskURL.JoinPath("without.html").String()},
		{"C FileServer, links", filesURL.JoinPath("with.html").String()},
		{"D FileServer, no links", filesURL.JoinPath("without.html").String()},
	}

	ctx, cancel := context.WithTimeout(t.Context(), timingTimeout)
	defer cancel()
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, chromiumOptions(t, chromium)...)
	defer cancelAlloc() // kills Chromium and waits for it
	// The first tab starts the browser; each load then gets a tab of its
	// own in it.
	browser, cancelBrowser := chromedp.NewContext(ctx)
	defer cancelBrowser()
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}

	results := make([][]pageTiming, len(variants))
	// Round 0 warms up connections and the browser, and is not counted.
	// Variants alternate, so that a slow spell of the machine hits each.
	for round := range timingRounds + 1 {
		for i, v := range variants {
			pt, err := loadTimed(browser, v.url)
			if err != nil {
				t.Fatalf("%s, round %d: %v", v.name, round, err)
			}
			if round > 0 {
				results[i] = append(results[i], pt)
			}
		}
	}

	var table strings.Builder
	fmt.Fprintf(&table, "medians of %d loads each, in ms from the start of the navigation; cache off; %d KB of text before the module script\n",
		timingRounds, fillerBytes>>10)
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "variant\tLink\t103s\tpage end\tparsed\tapp start\twasm start\twasm end\tready\twasm requests by initiator")
	for i, v := range variants {
		rs := results[i]
		col := func(f func(pageTiming) float64) string {
			return fmt.Sprintf("%.0f", median(rs, f))
		}
		hints := 0
		initiators := map[network.InitiatorType]int{}
		for _, r := range rs {
			hints += btoi(r.earlyHints)
			for _, in := range r.wasmInitiators {
				initiators[in]++
			}
			// What the comparison rests on, not a timing: brisk sends
			// the header for the page with links, and nothing else
			// sends one.
			if r.link != (i == 0) {
				t.Errorf("%s: Link header %v, want %v", v.name, r.link, i == 0)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%v\n", v.name, yesNo(rs[0].link), hints,
			col(func(p pageTiming) float64 { return p.NavResponseEnd }),
			col(func(p pageTiming) float64 { return p.DOMInteractive }),
			col(func(p pageTiming) float64 { return p.AppStart }),
			col(func(p pageTiming) float64 { return p.Wasm[0].Start }),
			col(func(p pageTiming) float64 { return p.Wasm[len(p.Wasm)-1].End }),
			col(func(p pageTiming) float64 { return p.Ready }),
			initiators)
	}
	tw.Flush()
	t.Logf("\n%s", table.String())
}

// loadTimed loads url in a new tab with the cache off, waits for the app,
// and returns its timeline. The tab must report no error: a page that fell
// back to slower paths would measure something else.
func loadTimed(browser context.Context, u string) (pageTiming, error) {
	events := newTabEvents()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithListener(events.listen))
	defer cancel()
	ctx, cancelLoad := context.WithTimeout(ctx, loadTimeout)
	defer cancelLoad()

	if _, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
		return pageTiming{}, fmt.Errorf("disable the cache: %w", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
		return pageTiming{}, fmt.Errorf("navigate to %s: %w", u, err)
	}
	if state, err := waitReady(ctx, loadTimeout); err != nil || state != "ready" {
		return pageTiming{}, fmt.Errorf("data-wasm = %q (%v), want ready", state, err)
	}
	pt, err := chromedp.Run(ctx, chromedp.Evaluate[pageTiming](timingScript))
	if err != nil {
		return pageTiming{}, fmt.Errorf("read the timeline: %w", err)
	}
	rec := events.snapshot()
	errs, reqs := rec.errors, rec.reqs
	if len(errs) > 0 {
		return pageTiming{}, fmt.Errorf("browser errors:\n%s", strings.Join(errs, "\n"))
	}
	if len(pt.Wasm) == 0 || pt.AppStart < 0 || pt.Ready < 0 {
		return pageTiming{}, fmt.Errorf("timeline without the wasm or a mark: %+v", pt)
	}
	page, err := url.Parse(u)
	if err != nil {
		return pageTiming{}, err
	}
	for _, r := range reqs {
		switch {
		case r.path == page.Path && r.resp != nil:
			pt.link = header(r.resp.Headers, "Link") != ""
			pt.earlyHints = r.earlyHints != nil
		case strings.HasSuffix(r.path, "_bg.wasm") && r.wireBytes > 0:
			pt.wasmInitiators = append(pt.wasmInitiators, r.initiator)
		}
	}
	return pt, nil
}

// median returns the median of f over rs.
func median(rs []pageTiming, f func(pageTiming) float64) float64 {
	vs := make([]float64, len(rs))
	for i, r := range rs {
		vs[i] = f(r)
	}
	slices.Sort(vs)
	if n := len(vs); n%2 == 0 {
		return (vs[n/2-1] + vs[n/2]) / 2
	}
	return vs[len(vs)/2]
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
