package server

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brisk-server/brisk/compress"
	"github.com/brisk-server/brisk/internal/testkit"
)

// A hashed name whose bytes change while brisk runs is served no-cache
// from then on, and the change is logged once it is seen.
func TestRewrittenHashedNameIsRevalidated(t *testing.T) {
	dir := t.TempDir()
	const name = "app-0123456789abcdef.js"
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	policy := CachePolicy{}
	store, err := compress.OpenDir(dir, compress.Config{
		SettleAge: time.Millisecond, Rewritten: policy.RewriteWarning(slog.New(slog.NewTextHandler(&log, nil))),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Source: store, Cache: policy})
	if cc := do(t, srv, "GET", "/"+name).Header.Get("Cache-Control"); cc != ImmutableCacheControl {
		t.Fatalf("first version: Cache-Control %q, want %q", cc, ImmutableCacheControl)
	}
	if err := os.WriteFile(p, []byte("v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "v2 published", func() bool {
		store.Rescan()
		return string(body(t, do(t, srv, "GET", "/"+name))) == "v2"
	})
	if cc := do(t, srv, "GET", "/"+name).Header.Get("Cache-Control"); cc != DefaultCacheControl {
		t.Errorf("after its bytes changed: Cache-Control %q, want %q", cc, DefaultCacheControl)
	}
	if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), name) {
		t.Errorf("no warning naming %s:\n%s", name, log.String())
	}
}
