package server

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/brisk-server/brisk/compress"
	"github.com/brisk-server/brisk/internal/testkit"
)

// hashedNameSpec is the definition hashedName implements by hand: the
// test keeps it as the oracle.
var hashedNameSpec = regexp.MustCompile(`(?s)^.+(\.[A-Za-z0-9_-]{22}\.|-[0-9a-f]{16}(_bg)?\.)[A-Za-z0-9]+$`)

var hashedNameCases = []string{
	"app.Ab3_x-9ZKq1mN0pQrStUvW.wasm",
	"a.b.Ab3_x-9ZKq1mN0pQrStUvW.js",
	".Ab3_x-9ZKq1mN0pQrStUvW.wasm", // nothing before the hash
	"app.Ab3_x-9ZKq1mN0pQrStUv.wasm",
	"app.Ab3_x-9ZKq1mN0pQrStUvW.",
	"app.Ab3_x-9ZKq1mN0pQrStUvW.w-a",
	"app.Ab3_x-9ZKq1mN0pQrStUvW.wasm.br",
	"app-Ab3_x-9ZKq1mN0pQrStUvW.wasm",
	"todo-8f2c4b1e9d0a7c63.js",
	"todo-8f2c4b1e9d0a7c63_bg.wasm",
	"-8f2c4b1e9d0a7c63.js",
	"t-8f2c4b1e9d0a7c63_bg_bg.wasm",
	"t-8f2c4b1e9d0a7c6.js",
	"t-8F2C4B1E9D0A7C63.js",
	"t_8f2c4b1e9d0a7c63.js",
	"t-8f2c4b1e9d0a7c63",
	"-8f2c4b1e9d0a7c63_bg.wasm",
	"x-0123456789abcdef_bg.wasm",
	"",
	".",
	"noext",
	"\n-8f2c4b1e9d0a7c63.js",
	"\xff.Ab3_x-9ZKq1mN0pQrStUvW.wasm",
}

func TestHashedNameMatchesItsSpec(t *testing.T) {
	for _, name := range hashedNameCases {
		if got, want := hashedName(name), hashedNameSpec.MatchString(name); got != want {
			t.Errorf("hashedName(%q) = %v, want %v", name, got, want)
		}
	}
}

func FuzzHashedName(f *testing.F) {
	for _, name := range hashedNameCases {
		f.Add(name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := hashedName(name), hashedNameSpec.MatchString(name); got != want {
			t.Errorf("hashedName(%q) = %v, want %v", name, got, want)
		}
	})
}

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
