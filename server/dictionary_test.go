package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/brisk-server/brisk/compress"
)

// A Trunk-style site whose wasm has a delta against its previous build.
const (
	dictWasm = "app-0000000000000002_bg.wasm"
	dictOld  = "app-0000000000000001_bg.wasm"
)

type deltaSite struct {
	srv          *Server
	store        *compress.Store
	old, wasm    []byte
	availableOld string // Available-Dictionary naming the old build
}

func newDeltaSite(t testing.TB, cfg Config) *deltaSite {
	t.Helper()
	old := wordSalad(200_000)
	wasm := append(bytes.Clone(old[:100_000]), append([]byte("a change in the new build"), old[100_000:]...)...)
	codings, _ := compress.NewCodings("br", compress.Fast)
	store, err := compress.Open(fstest.MapFS{
		dictWasm:     {Data: wasm, ModTime: testMod},
		"plain.wasm": {Data: wasm, ModTime: testMod},
		"index.html": {Data: testText(3000), ModTime: testMod},
	}, compress.Config{Codings: codings, BrotliDeltas: true, Previous: []fs.FS{fstest.MapFS{dictOld: {Data: old, ModTime: testMod}}}})
	if err != nil {
		t.Fatal(err)
	}
	store.Precompress(context.Background())
	sum := sha256.Sum256(old)
	cfg.Source = store
	srv := New(cfg)
	newLoopbackServer(t, srv) // for every subtest and fuzz input: see do
	return &deltaSite{srv: srv, store: store, old: old, wasm: wasm,
		availableOld: ":" + base64.StdEncoding.EncodeToString(sum[:]) + ":"}
}

// wordSalad is n bytes of text that compresses like code, about 3:1, so
// that a delta of a small change is much smaller than brotli of the file.
func wordSalad(n int) []byte {
	words := strings.Fields("fn let mut impl pub struct enum match self wasm_bindgen JsValue Result Ok Err " +
		"i32 u8 Vec String &str clone into unwrap map collect iter { } ( ) ; => :: .")
	r := rand.New(rand.NewPCG(7, 7))
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(" \n"[r.IntN(2)])
	}
	return b.Bytes()[:n]
}

// smallestDelta is the coding of the smaller of the site's two deltas.
func (ds *deltaSite) smallestDelta(t testing.TB) string {
	a, _ := ds.store.Snapshot().Lookup(dictWasm)
	if d := a.Deltas(); len(d) != 2 {
		t.Fatalf("%d deltas, want dcz and dcb", len(d))
	}
	return a.Deltas()[0].Coding
}

func TestParseAvailableDictionary(t *testing.T) {
	sum := sha256.Sum256([]byte("v1"))
	std := base64.StdEncoding.EncodeToString(sum[:])
	for _, c := range []struct {
		name  string
		lines []string
		ok    bool
	}{
		{"absent", nil, false},
		{"the one value", []string{":" + std + ":"}, true},
		{"spaces around", []string{" \t:" + std + ": "}, true},
		{"unpadded", []string{":" + strings.TrimRight(std, "=") + ":"}, true},
		{"two fields", []string{":" + std + ":", ":" + std + ":"}, false},
		{"two values in one field", []string{":" + std + ":, :" + std + ":"}, false},
		{"no colons", []string{std}, false},
		{"url-safe alphabet", []string{":" + base64.URLEncoding.EncodeToString(sum[:]) + ":"}, !strings.ContainsAny(std, "+/")},
		{"bad base64", []string{":" + strings.Repeat("!", 43) + ":"}, false},
		{"16 bytes", []string{":" + base64.StdEncoding.EncodeToString(sum[:16]) + ":"}, false},
		{"33 bytes", []string{":" + base64.StdEncoding.EncodeToString(append(sum[:], 0)) + ":"}, false},
		{"non-canonical last character", []string{":" + std[:42] + string(std[42]+1) + "=:"}, false},
		{"empty", []string{""}, false},
		{"colons only", []string{"::"}, false},
		{"a string", []string{`"` + std + `"`}, false},
	} {
		got, ok := parseAvailableDictionary(c.lines)
		if ok != c.ok || ok && got != sum {
			t.Errorf("%s: %x, %v; want %v", c.name, got[:4], ok, c.ok)
		}
	}
}

// Whatever arrives, a parsed value is the one a canonical encoder writes
// for it: no two inputs stand for one dictionary.
func FuzzParseAvailableDictionary(f *testing.F) {
	sum := sha256.Sum256([]byte("v1"))
	f.Add(":" + base64.StdEncoding.EncodeToString(sum[:]) + ":")
	f.Add(":" + base64.RawStdEncoding.EncodeToString(sum[:]) + ":")
	f.Add("::")
	f.Add(":AAAA:")
	f.Fuzz(func(t *testing.T, v string) {
		got, ok := parseAvailableDictionary([]string{v})
		if !ok {
			return
		}
		inner := strings.Trim(strings.Trim(v, " \t"), ":")
		if inner != base64.StdEncoding.EncodeToString(got[:]) && inner != base64.RawStdEncoding.EncodeToString(got[:]) {
			t.Fatalf("%q parsed as %x", v, got)
		}
	})
}

func TestDeltaNegotiation(t *testing.T) {
	ds := newDeltaSite(t, Config{})
	wrong := sha256.Sum256([]byte("another build"))
	wrongAD := ":" + base64.StdEncoding.EncodeToString(wrong[:]) + ":"
	chrome := "gzip, deflate, br, zstd, dcb, dcz"
	smallest := ds.smallestDelta(t)
	for _, c := range []struct {
		name   string
		header []string
		want   string // Content-Encoding
	}{
		{"Chromium with the old build", []string{"Accept-Encoding", chrome, "Available-Dictionary", ds.availableOld}, smallest},
		{"dcz only", []string{"Accept-Encoding", "gzip, br, dcz", "Available-Dictionary", ds.availableOld}, "dcz"},
		{"dcb only", []string{"Accept-Encoding", "gzip, br, dcb", "Available-Dictionary", ds.availableOld}, "dcb"},
		{"dcb ranked below dcz", []string{"Accept-Encoding", "br;q=0.1, dcz, dcb;q=0.5", "Available-Dictionary", ds.availableOld}, "dcz"},
		{"dcz ranked below dcb", []string{"Accept-Encoding", "br;q=0.1, dcz;q=0.5, dcb", "Available-Dictionary", ds.availableOld}, "dcb"},
		{"no Available-Dictionary", []string{"Accept-Encoding", chrome}, "br"},
		{"another dictionary", []string{"Accept-Encoding", chrome, "Available-Dictionary", wrongAD}, "br"},
		{"two Available-Dictionary fields", []string{"Accept-Encoding", chrome, "Available-Dictionary", ds.availableOld, "Available-Dictionary", ds.availableOld}, "br"},
		{"bad Available-Dictionary", []string{"Accept-Encoding", chrome, "Available-Dictionary", ":" + ds.availableOld[2:]}, "br"},
		{"no delta coding listed", []string{"Accept-Encoding", "gzip, br", "Available-Dictionary", ds.availableOld}, "br"},
		{"only through *", []string{"Accept-Encoding", "*", "Available-Dictionary", ds.availableOld}, "br"},
		{"dcz refused", []string{"Accept-Encoding", "br, dcz;q=0, dcb;q=0", "Available-Dictionary", ds.availableOld}, "br"},
		{"dcz ranked below br", []string{"Accept-Encoding", "br, dcz;q=0.5", "Available-Dictionary", ds.availableOld}, "br"},
		{"dcz ranked above br", []string{"Accept-Encoding", "br;q=0.5, dcz", "Available-Dictionary", ds.availableOld}, "dcz"},
		{"DCZ in capitals", []string{"Accept-Encoding", "br, DCZ", "Available-Dictionary", ds.availableOld}, "dcz"},
		{"dcz the only acceptable", []string{"Accept-Encoding", "identity;q=0, dcz", "Available-Dictionary", ds.availableOld}, "dcz"},
		{"same origin", []string{"Accept-Encoding", chrome, "Available-Dictionary", ds.availableOld, "Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "cors"}, smallest},
		{"cross-site cors", []string{"Accept-Encoding", chrome, "Available-Dictionary", ds.availableOld, "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "cors"}, "br"},
		{"cross-site no-cors", []string{"Accept-Encoding", chrome, "Available-Dictionary", ds.availableOld, "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "no-cors"}, "br"},
		{"cross-site navigation", []string{"Accept-Encoding", chrome, "Available-Dictionary", ds.availableOld, "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate"}, smallest},
	} {
		resp := do(t, ds.srv, "GET", "/"+dictWasm, c.header...)
		b := body(t, resp)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != c.want {
			t.Errorf("%s: %d %q, want 200 %q", c.name, resp.StatusCode, resp.Header.Get("Content-Encoding"), c.want)
			continue
		}
		if got := resp.Header.Get("Vary"); got != "Accept-Encoding, Available-Dictionary" {
			t.Errorf("%s: Vary %q", c.name, got)
		}
		if resp.Header.Get("Content-Length") != strconv.Itoa(len(b)) {
			t.Errorf("%s: Content-Length %q for %d bytes", c.name, resp.Header.Get("Content-Length"), len(b))
		}
		if c.want == "dcz" || c.want == "dcb" {
			plain, err := compress.DecodeDelta(c.want, b, ds.old, int64(len(ds.wasm)))
			if err != nil || !bytes.Equal(plain, ds.wasm) {
				t.Errorf("%s: delta does not decode to the file: %v", c.name, err)
			}
		}
	}
}

// Every response of a dictionary varies on Available-Dictionary and
// marks itself as one, with a pattern under the base path; a delta is a
// representation of its own: its ETag, 304, and a Range gets all of it.
func TestDeltaRepresentation(t *testing.T) {
	ds := newDeltaSite(t, Config{BasePath: "/app/"})
	chrome := []string{"Accept-Encoding", "gzip, br, zstd, dcz", "Available-Dictionary", ds.availableOld}
	target := "/app/" + dictWasm
	full := do(t, ds.srv, "GET", target, chrome...)
	delta := body(t, full)
	etag := full.Header.Get("Etag")
	if full.Header.Get("Content-Encoding") != "dcz" {
		t.Fatalf("no delta: %v", full.Header)
	}
	for _, c := range []struct {
		name       string
		header     []string
		status     int
		coding     string
		wantLength int
	}{
		{"identity", nil, 200, "", len(ds.wasm)},
		{"br", []string{"Accept-Encoding", "br"}, 200, "br", -1},
		{"revalidate the delta", append(slicesClone(chrome), "If-None-Match", etag), 304, "", -1},
		{"Range on the delta", append(slicesClone(chrome), "Range", "bytes=0-99"), 200, "dcz", len(delta)},
		{"Range without dictionary", []string{"Accept-Encoding", "identity", "Range", "bytes=0-99"}, 206, "", 100},
		{"If-Match the delta", append(slicesClone(chrome), "If-Match", etag), 200, "dcz", len(delta)},
		{"If-Match the delta, asking for br", []string{"Accept-Encoding", "br", "If-Match", etag}, 412, "", -1},
		{"HEAD of the delta", slicesClone(chrome), 200, "dcz", 0},
	} {
		method := "GET"
		if strings.HasPrefix(c.name, "HEAD") {
			method = "HEAD"
		}
		resp := do(t, ds.srv, method, target, c.header...)
		b := body(t, resp)
		h := resp.Header
		if resp.StatusCode != c.status || h.Get("Content-Encoding") != c.coding {
			t.Errorf("%s: %d %q, want %d %q", c.name, resp.StatusCode, h.Get("Content-Encoding"), c.status, c.coding)
		}
		if got := h.Get("Vary"); got != "Accept-Encoding, Available-Dictionary" && resp.StatusCode != 412 {
			t.Errorf("%s: Vary %q", c.name, got)
		}
		if c.wantLength >= 0 && len(b) != c.wantLength {
			t.Errorf("%s: %d bytes, want %d", c.name, len(b), c.wantLength)
		}
		if resp.StatusCode == 200 {
			if got := h.Get("Use-As-Dictionary"); got != `match="/app/app-*_bg.wasm"` {
				t.Errorf("%s: Use-As-Dictionary %q", c.name, got)
			}
			if c.coding == "dcz" && h.Get("Etag") != etag || c.coding != "dcz" && h.Get("Etag") == etag {
				t.Errorf("%s: ETag %s (the delta's is %s)", c.name, h.Get("Etag"), etag)
			}
			if c.coding == "dcz" && h.Get("Content-Length") != strconv.Itoa(len(delta)) {
				t.Errorf("%s: Content-Length %s, want %d", c.name, h.Get("Content-Length"), len(delta))
			}
		}
	}

	// Not a dictionary: a name without a hash, and the page.
	for _, name := range []string{"plain.wasm", "index.html"} {
		resp := do(t, ds.srv, "GET", "/app/"+name, chrome...)
		if h := resp.Header; h.Get("Use-As-Dictionary") != "" || h.Get("Vary") != "Accept-Encoding" || h.Get("Content-Encoding") == "dcz" {
			t.Errorf("%s: Use-As-Dictionary %q, Vary %q, Content-Encoding %q", name, h.Get("Use-As-Dictionary"), h.Get("Vary"), h.Get("Content-Encoding"))
		}
	}
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// Without immutable caching (--dev serves no-store) a browser keeps no
// dictionary: none is offered, no delta is sent.
func TestNoDictionaryWithoutImmutableCaching(t *testing.T) {
	ds := newDeltaSite(t, Config{Cache: CachePolicy{Default: "no-store", NoImmutable: true}})
	resp := do(t, ds.srv, "GET", "/"+dictWasm, "Accept-Encoding", "br, dcz", "Available-Dictionary", ds.availableOld)
	if h := resp.Header; h.Get("Use-As-Dictionary") != "" || h.Get("Content-Encoding") != "br" || h.Get("Vary") != "Accept-Encoding" {
		t.Errorf("Use-As-Dictionary %q, Content-Encoding %q, Vary %q", h.Get("Use-As-Dictionary"), h.Get("Content-Encoding"), h.Get("Vary"))
	}
}

func TestUseAsDictionaryPattern(t *testing.T) {
	for _, c := range []struct{ name, base, want string }{
		{"pkg/app.Ab3_x-9ZKq1mN0pQrStUvW.wasm", "/", `match="/pkg/app.*.wasm"`},
		{"app-0123456789abcdef.js", "/", `match="/app-*.js"`},
		{"app-0123456789abcdef_bg.wasm", "/my app/", ""}, // a space: not in a pattern unescaped
		{"a:b-0123456789abcdef.js", "/", ""},             // ":" starts a named group
		{"app.wasm", "/", ""},
	} {
		got := useAsDictionary(c.name, c.base, ImmutableCacheControl)
		if (got == nil) != (c.want == "") || got != nil && got[0] != c.want {
			t.Errorf("useAsDictionary(%q, %q) = %q, want %q", c.name, c.base, got, c.want)
		}
	}
	if got := useAsDictionary("app-0123456789abcdef.js", "/", "no-cache"); got != nil {
		t.Errorf("a file revalidated each time is offered as a dictionary: %q", got)
	}
}

// Whatever Accept-Encoding and Available-Dictionary say, the answer is a
// 200 or a 406, and a delta only ever goes to the client that named its
// dictionary, and decodes with it to the file.
func FuzzDeltaRequest(f *testing.F) {
	ds := newDeltaSite(f, Config{})
	f.Add("gzip, deflate, br, zstd, dcb, dcz", ds.availableOld)
	f.Add("dcz;q=0.5, br;q=0.4", ds.availableOld+", "+ds.availableOld)
	f.Add("*;q=0, dcz", ":"+strings.Repeat("A", 43)+":")
	f.Add("identity;q=0", "")
	f.Fuzz(func(t *testing.T, ae, ad string) {
		header := []string{"Accept-Encoding", ae}
		if ad != "" {
			header = append(header, "Available-Dictionary", ad)
		}
		resp := do(t, ds.srv, "GET", "/"+dictWasm, header...)
		b := body(t, resp)
		switch {
		case resp.StatusCode == http.StatusNotAcceptable:
			return
		case resp.StatusCode != 200:
			t.Fatalf("status %d", resp.StatusCode)
		case resp.Header.Get("Content-Encoding") != "dcz" && resp.Header.Get("Content-Encoding") != "dcb":
			return
		}
		if strings.Trim(ad, " \t") != ds.availableOld && strings.Trim(ad, " \t") != strings.Replace(ds.availableOld, "=:", ":", 1) {
			t.Fatalf("a delta for Available-Dictionary %q", ad)
		}
		if plain, err := compress.DecodeDelta(resp.Header.Get("Content-Encoding"), b, ds.old, int64(len(ds.wasm))); err != nil || !bytes.Equal(plain, ds.wasm) {
			t.Fatalf("delta does not decode to the file: %v", err)
		}
	})
}
