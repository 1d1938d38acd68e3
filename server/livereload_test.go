package server

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brisk-server/brisk/compress"
)

func TestInjectLiveReload(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // where the script lands: the text just after it
	}{
		{"index.html", "<html><body><p>x</p></body></html>", "</body></html>"},
		{"page.HTM", "<BODY>x</BODY>", "</BODY>"},
		{"two.html", "<body>a</body><!-- </body> --></body>", "</body>"},
		{"fragment.html", "<p>no body tag</p>", ""},
	}
	for _, tt := range tests {
		out := string(InjectLiveReload(tt.name, []byte(tt.in)))
		i := strings.Index(out, liveReloadScript)
		if i < 0 {
			t.Errorf("%s: no script injected: %q", tt.name, out)
			continue
		}
		if rest := out[i+len(liveReloadScript):]; rest != tt.want {
			t.Errorf("%s: script followed by %q, want %q", tt.name, rest, tt.want)
		}
		if strings.Replace(out, liveReloadScript, "", 1) != tt.in {
			t.Errorf("%s: page changed beyond the script", tt.name)
		}
	}
	if js := InjectLiveReload("app.js", []byte("x")); string(js) != "x" {
		t.Errorf("a script file was changed: %q", js)
	}
}

// The event stream says "hello" at once and "reload" when the store
// publishes a new snapshot, and ends when the server shuts down.
func TestLiveReloadStream(t *testing.T) { forEachProtocol(t, testLiveReloadStream) }

func testLiveReloadStream(t *testing.T, p protocol) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<body>one</body>"), 0o644); err != nil {
		t.Fatal(err)
	}
	store, err := compress.OpenDir(dir, compress.Config{Transform: InjectLiveReload, SettleAge: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Source: store, LiveReload: true, Cache: CachePolicy{Default: "no-store", NoImmutable: true}})
	ts := newLoopbackServer(t, srv)

	page := do(t, srv, "GET", "/")
	if b := body(t, page); !strings.Contains(string(b), LiveReloadPath) || page.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("dev page: Cache-Control %q, body %q", page.Header.Get("Cache-Control"), b)
	}

	resp, err := p.newClient(true).Get(ts + LiveReloadPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != p.major {
		t.Fatalf("answered in %s", resp.Proto)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events <- ev
			}
		}
		close(events)
	}()
	next := func() string {
		select {
		case ev := <-events:
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no event within 5 s")
			return ""
		}
	}
	if ev := next(); ev != "hello" {
		t.Fatalf("first event %q, want hello", ev)
	}
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<body>two</body>"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if _, err := store.Rescan(); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev != "reload" {
		t.Fatalf("after a change: event %q, want reload", ev)
	}
	shutdownDone := make(chan error, 1)
	go func() { shutdownDone <- srv.Shutdown(context.Background()) }()
	if err := <-shutdownDone; err != nil {
		t.Fatalf("shutdown with an open event stream: %v", err)
	}
}
