package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brisk-server/brisk/compress"
	"github.com/brisk-server/brisk/internal/testkit"
)

// A variant can leave and another take its place: a sidecar taken on the
// evidence of its trailer that turns out damaged is dropped and encoded
// afresh, so the asset has as many variants as before, under a new tag.
// Its headers must follow (they were once rebuilt only when the number
// of variants changed, and every request then failed with a 500).
func TestReplacedVariantIsServed(t *testing.T) {
	dir := t.TempDir()
	data := []byte(strings.Repeat("function brisk(){return 42}\n", 400))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	damaged := gz.Bytes()
	damaged[len(damaged)/2] ^= 0xff // the trailer still names the file
	for name, b := range map[string][]byte{"app.js": data, "app.js.gz": damaged} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	codings, _ := compress.NewCodings("gzip", compress.Fast)
	store, err := compress.OpenDir(dir, compress.Config{Codings: codings})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	store.Precompress(context.Background())
	a, _ := store.Snapshot().Lookup("app.js")
	taken := a.Variants()[0].Tag
	base := newLoopbackServer(t, New(Config{Source: store}))
	// The first answer carries the damaged sidecar, whose use starts the
	// full check; the repair follows.
	cleartext[0].send(t, "GET", base+"/app.js", "Accept-Encoding", "gzip")
	testkit.Eventually(t, 10*time.Second, "the damaged sidecar replaced", func() bool {
		vs := a.Variants()
		return len(vs) == 1 && vs[0].Tag != taken
	})
	resp, body, _ := cleartext[0].send(t, "GET", base+"/app.js", "Accept-Encoding", "gzip")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Etag") != `"`+a.Variants()[0].Tag+`"` {
		t.Fatalf("after the repair: status %d, ETag %s, want 200 and the new variant's", resp.StatusCode, resp.Header.Get("Etag"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	if _, err := plain.ReadFrom(zr); err != nil || !bytes.Equal(plain.Bytes(), data) {
		t.Errorf("the repaired variant does not decode to the file: %v", err)
	}
}
