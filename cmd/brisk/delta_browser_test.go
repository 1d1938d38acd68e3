package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/brisk-server/brisk/internal/testkit"
)

// deltaTimeout bounds the wait for brisk to encode a rebuilt wasm's delta
// (zstd at its best level against 1.8 MB, after gzip of the build).
const deltaTimeout = 2 * time.Minute

// browserTab is one Chromium tab that keeps its profile, and so its
// dictionaries, across page loads.
type browserTab struct {
	ctx    context.Context
	events *tabEvents
}

func newBrowserTab(t *testing.T) *browserTab {
	t.Helper()
	ctx, events := newTab(t, testkit.RequireTool(t, chromiumPath), 2*deltaTimeout)
	return &browserTab{ctx: ctx, events: events}
}

// load opens u, waits for the app, and returns the request for the
// site's wasm file wasm made by this load, and the build the page runs.
func (b *browserTab) load(t *testing.T, u, wasm string) (tabRequest, string) {
	t.Helper()
	before := b.events.snapshot().reqs
	if err := chromedp.Do(b.ctx, chromedp.Navigate(u)); err != nil {
		t.Fatalf("navigate to %s: %v", u, err)
	}
	if state, err := waitReady(b.ctx, browserTimeout); err != nil || state != "ready" {
		errs := b.events.snapshot().errors
		t.Fatalf("data-wasm = %q (%v), want ready; browser errors:\n%s", state, err, strings.Join(errs, "\n"))
	}
	build, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.documentElement.dataset.build ?? ""`))
	if err != nil {
		t.Fatal(err)
	}
	rec := b.events.snapshot()
	errs, reqs := rec.errors, rec.reqs
	for _, m := range errs {
		t.Errorf("browser error: %s", m)
	}
	got := requestsFor(reqs[len(before):], "/"+wasm)
	if len(got) == 0 || got[0].resp == nil {
		t.Fatalf("no response for /%s", wasm)
	}
	// Chromium asks once for a file that the Link header and the page
	// both preload; the first request is the one that went out.
	return got[0], build
}

// checkDeltaLoad checks that the returning visitor's wasm request named
// its dictionary and got a delta in coding, and logs what it cost.
func checkDeltaLoad(t *testing.T, r tabRequest, size int, coding string) {
	t.Helper()
	enc := header(r.resp.Headers, "Content-Encoding")
	t.Logf("%s: sent Available-Dictionary %q, Accept-Encoding %q; got %d, Content-Encoding %q, %.0f bytes transferred for %d bytes of wasm",
		r.path, r.availableDict, r.acceptEncoding, r.resp.Status, enc, r.wireBytes, size)
	if r.availableDict == "" || !strings.Contains(r.acceptEncoding, coding) {
		t.Errorf("%s: no Available-Dictionary, or %s not accepted", r.path, coding)
	}
	if r.resp.Status != 200 || enc != coding {
		t.Errorf("%s: %d %q, want 200 %s", r.path, r.resp.Status, enc, coding)
	}
	if r.wireBytes <= 0 || r.wireBytes > float64(size)/10 {
		t.Errorf("%s: %.0f bytes over the wire for %d bytes: not a delta", r.path, r.wireBytes, size)
	}
}

// removeBuild deletes a build's hashed files that the next build does not
// have, as Trunk's fresh dist does.
func removeBuild(t *testing.T, old, next *trunkSite) {
	t.Helper()
	for _, name := range []string{old.js, old.wasm, old.css} {
		if name != next.js && name != next.wasm && name != next.css {
			if err := os.Remove(filepath.Join(old.dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A returning visitor after a live rebuild: Chromium loads build 1 from
// brisk on http://localhost; the build on disk becomes build 2 under new
// hashed names; the reload names build 1 as its dictionary, gets the wasm
// as a dcz delta, and runs build 2 (integrity attributes check the
// decoded bytes).
func TestBrowserDeltaAfterRebuild(t *testing.T) {
	tab := newBrowserTab(t)
	dir := t.TempDir()
	v1 := writeTrunkBuild(t, dir, 1)
	v1.page(t, "index.html", trunkPage{preloads: true})
	p := startProcess(t, "--encodings", "gzip", dir)
	u := localhostURL(t, p.url).String()

	first, build := tab.load(t, u, v1.wasm)
	if build != "1" || header(first.resp.Headers, "Use-As-Dictionary") != `match="/brisk_demo-*_bg.wasm"` {
		t.Fatalf("first load: build %q, Use-As-Dictionary %q", build, header(first.resp.Headers, "Use-As-Dictionary"))
	}

	v2 := writeTrunkBuild(t, dir, 2)
	v2.page(t, "index.html", trunkPage{preloads: true})
	removeBuild(t, v1, v2)
	waitForDelta(t, p.url+"/"+v2.wasm, v1.wasmData)

	second, build := tab.load(t, u, v2.wasm)
	if build != "2" {
		t.Errorf("after the rebuild the page runs build %q, want 2", build)
	}
	checkDeltaLoad(t, second, len(v2.wasmData), "dcz")
}

// The deploy path: build 2 is precompressed with --previous build 1 (at
// the production levels, so with dcb beside dcz) and served by a new
// brisk process, on the same origin, which never sees build 1: the
// visitor who has build 1 gets the smaller delta from its sidecar.
func TestBrowserDeltaAfterDeploy(t *testing.T) {
	tab := newBrowserTab(t)
	dir1, dir2 := t.TempDir(), t.TempDir()
	v1 := writeTrunkBuild(t, dir1, 1)
	v1.page(t, "index.html", trunkPage{preloads: true})
	v2 := writeTrunkBuild(t, dir2, 2)
	v2.page(t, "index.html", trunkPage{preloads: true})

	old := startProcess(t, "--encodings", "gzip", dir1)
	u := localhostURL(t, old.url)
	if _, build := tab.load(t, u.String(), v1.wasm); build != "1" {
		t.Fatalf("first load runs build %q", build)
	}
	if err := old.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := old.exitCode(t, 10*time.Second); code != 0 {
		t.Fatalf("brisk exited %d", code)
	}

	precompressWithBinary(t, "--encodings", "br,gzip", "--previous", dir1, dir2)
	smaller := smallerDeltaSidecar(t, dir2, v2.wasm)
	deployed := startProcess(t, "--encodings", "br,gzip", "--addr", "127.0.0.1:"+u.Port(), dir2)
	second, build := tab.load(t, u.String(), v2.wasm)
	if build != "2" {
		t.Errorf("after the deploy the page runs build %q, want 2", build)
	}
	checkDeltaLoad(t, second, len(v2.wasmData), smaller)
	if strings.Contains(deployed.log.String(), "dc") {
		t.Errorf("the new brisk encoded a delta itself; log:\n%s", deployed.log.String())
	}
}

// waitForDelta polls url as a client that has dict until brisk answers
// with a delta.
func waitForDelta(t *testing.T, url string, dict []byte) {
	t.Helper()
	testkit.Eventually(t, deltaTimeout, "brisk serves "+url+" as a delta", func() bool {
		resp, _ := getDelta(t, url, dict)
		return resp.Header.Get("Content-Encoding") == "dcz"
	})
}

// smallerDeltaSidecar returns the coding of the smaller of the dcz and
// dcb sidecars of name in dir: the one brisk must send.
func smallerDeltaSidecar(t *testing.T, dir, name string) string {
	t.Helper()
	size := map[string]int64{}
	for _, coding := range []string{"dcz", "dcb"} {
		m, _ := filepath.Glob(filepath.Join(dir, name+".*."+coding))
		if len(m) != 1 {
			t.Fatalf("%s sidecars of %s: %v", coding, name, m)
		}
		info, err := os.Stat(m[0])
		if err != nil {
			t.Fatal(err)
		}
		size[coding] = info.Size()
	}
	t.Logf("%s: dcz %d bytes, dcb %d bytes", name, size["dcz"], size["dcb"])
	if size["dcb"] < size["dcz"] {
		return "dcb"
	}
	return "dcz"
}
