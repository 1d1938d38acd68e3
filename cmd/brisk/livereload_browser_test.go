package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/brisk-server/brisk/internal/testkit"
)

// reloadTimeout bounds how long an open page may take to show a rewritten
// file. The watcher publishes within about 100 ms of a rename, and the
// page reloads as soon as the event stream says so; ten seconds leaves room
// for a loaded machine and the race detector, but not for a developer
// left reloading by hand.
const reloadTimeout = 10 * time.Second

// reloadEvents records what the page loaded and what its live-reload
// stream told it. Like tabEvents, its listen method runs on chromedp's
// read loop in the order Chromium sent the events.
type reloadEvents struct {
	mu     sync.Mutex
	pages  []*network.Response // every response for the page itself, in order
	stream map[string]int      // live-reload messages received, by event name
}

func (e *reloadEvents) listen(ev any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventResponseReceived:
		if ev.Type == network.ResourceTypeDocument {
			e.pages = append(e.pages, ev.Response)
		}
	case *network.EventEventSourceMessageReceived:
		e.stream[ev.EventName]++
	}
}

// snapshot returns copies of what was recorded so far.
func (e *reloadEvents) snapshot() (pages []*network.Response, stream map[string]int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	stream = map[string]int{}
	for k, v := range e.stream {
		stream[k] = v
	}
	return append([]*network.Response(nil), e.pages...), stream
}

// TestBrowserLiveReload checks the promise of --dev end to end, in a real
// browser: a page left open reloads by itself when a build rewrites a file,
// and shows the new version, never a cached one. Only a browser can tell
// that the injected script, the event stream, the watcher and no-store
// work together; each alone is tested elsewhere.
func TestBrowserLiveReload(t *testing.T) {
	chromium := testkit.RequireTool(t, chromiumPath)

	dir := t.TempDir()
	index := filepath.Join(dir, "index.html")
	page := func(marker string) []byte {
		return []byte(`<!doctype html><html><head><title>live reload</title></head><body><h1 id="v">` +
			marker + `</h1></body></html>`)
	}
	if err := os.WriteFile(index, page("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	base, log := startBrisk(t, "--dev", dir)
	u := localhostURL(t, base)

	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, chromiumOptions(t, chromium)...)
	defer cancelAlloc() // kills Chromium and waits for it
	events := &reloadEvents{stream: map[string]int{}}
	ctx, cancelTab := chromedp.NewContext(ctx, chromedp.WithListener(events.listen))
	defer cancelTab()
	defer func() {
		if t.Failed() {
			pages, stream := events.snapshot()
			t.Logf("page loads: %d; live-reload messages: %v; brisk log:\n%s", len(pages), stream, log.String())
		}
	}()

	if err := chromedp.Do(ctx, chromedp.Navigate(u.String())); err != nil {
		t.Fatalf("navigate to %s: %v", u, err)
	}
	if got := marker(ctx, t, "one", reloadTimeout); got != "one" {
		t.Fatalf("page shows %q, want one", got)
	}
	// A rewrite before the stream is open would go unannounced, and the
	// test would blame the reload: wait for the stream's greeting first.
	testkit.Eventually(t, reloadTimeout, "the page's live-reload stream to open", func() bool {
		_, stream := events.snapshot()
		return stream["hello"] > 0
	})

	rewritten := time.Now()
	testkit.ReplaceFile(t, index, page("two"))
	// The test never navigates again: only the page itself can bring
	// "two" on screen.
	if got := marker(ctx, t, "two", reloadTimeout); got != "two" {
		t.Fatalf("page still shows %q %s after index.html was rewritten, want two", got, reloadTimeout)
	}
	t.Logf("the open page showed the rewrite %s after it", time.Since(rewritten).Round(time.Millisecond))
	nav, err := chromedp.Run(ctx, chromedp.Evaluate[string](`performance.getEntriesByType("navigation")[0].type`))
	if err != nil {
		t.Fatal(err)
	}
	if nav != "reload" {
		t.Errorf("the page showing two came from a %q navigation, want reload", nav)
	}

	// One rewrite is one build: the page must reload once, not keep
	// reloading. Give a second reload time to show.
	time.Sleep(time.Second)
	pages, stream := events.snapshot()
	t.Logf("page loads: %d; live-reload messages: %v", len(pages), stream)
	if len(pages) != 2 || stream["reload"] != 1 {
		t.Errorf("one rewrite: %d page loads and %d reload messages, want 2 and 1", len(pages), stream["reload"])
	}
	for i, resp := range pages {
		if resp.Status != 200 {
			t.Errorf("page load %d: status %d", i+1, resp.Status)
		}
		if got := header(resp.Headers, "Cache-Control"); got != "no-store" {
			t.Errorf("page load %d: Cache-Control %q, want no-store", i+1, got)
		}
	}
}

// marker polls the text of #v until it is want or timeout passes, and
// returns the last text seen. It evaluates afresh each time rather than
// with chromedp.Poll, which ends in an error when the page navigates: a
// reload destroys the page's JavaScript context, and the evaluations that
// meet it fail; the next one runs in the reloaded page.
func marker(ctx context.Context, t *testing.T, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var got string
	for time.Now().Before(deadline) {
		evalCtx, cancel := context.WithTimeout(ctx, time.Second)
		text, err := chromedp.Run(evalCtx, chromedp.Evaluate[string](`document.getElementById("v")?.textContent ?? ""`))
		cancel()
		if err == nil {
			got = text
			if strings.TrimSpace(got) == want {
				return want
			}
		} else if ctx.Err() != nil {
			t.Fatalf("browser gone while waiting for %q: %v", want, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return got
}
