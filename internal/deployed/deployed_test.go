package deployed

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestFetchFindsTheDeployedVersions(t *testing.T) {
	// Deployed: a Trunk page naming its glue and wasm, and a cargo-leptos
	// style pkg/ whose wasm only the glue names; plus a file the new
	// build does not have, and a page link to another site.
	deployed := fstest.MapFS{
		"index.html": {Data: []byte(`<link rel="modulepreload" href="/base/app-0000000000000001.js">
<link rel="preload" href="/base/app-0000000000000001_bg.wasm" as="fetch">
<script type="module">import init from '/base/app-0000000000000001.js'; init('/base/app-0000000000000001_bg.wasm');</script>
<script src="/base/pkg/leptos.AAAAAAAAAAAAAAAAAAAAAA.js"></script>
<script src="/base/gone-0000000000000001.js"></script>
<a href="https://elsewhere.example/app-00000000000000ff.js">x</a>`)},
		"app-0000000000000001.js":                {Data: []byte("old glue")},
		"app-0000000000000001_bg.wasm":           {Data: []byte("old wasm")},
		"pkg/leptos.AAAAAAAAAAAAAAAAAAAAAA.js":   {Data: []byte(`init({module_or_path: "/base/pkg/leptos.AAAAAAAAAAAAAAAAAAAAAA.wasm"})`)},
		"pkg/leptos.AAAAAAAAAAAAAAAAAAAAAA.wasm": {Data: []byte("old leptos wasm")},
		"gone-0000000000000001.js":               {Data: []byte("not in the new build")},
	}
	var requests []string
	srv := httptest.NewServer(http.StripPrefix("/base", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests = append(requests, r.URL.Path)
		http.FileServerFS(deployed).ServeHTTP(w, r)
	})))
	defer srv.Close()

	build := fstest.MapFS{
		"index.html":                             {Data: []byte("new page")},
		"app-0000000000000002.js":                {Data: []byte("new glue")},
		"app-0000000000000002_bg.wasm":           {Data: []byte("new wasm")},
		"pkg/leptos.BBBBBBBBBBBBBBBBBBBBBB.js":   {Data: []byte("new")},
		"pkg/leptos.BBBBBBBBBBBBBBBBBBBBBB.wasm": {Data: []byte("new")},
	}
	dir := t.TempDir()
	base, _ := url.Parse(srv.URL + "/base")
	got, err := Fetch(context.Background(), srv.Client(), base, build, dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"app-0000000000000001.js", "app-0000000000000001_bg.wasm",
		"pkg/leptos.AAAAAAAAAAAAAAAAAAAAAA.js", "pkg/leptos.AAAAAAAAAAAAAAAAAAAAAA.wasm"}
	if !slices.Equal(got, want) {
		t.Fatalf("fetched %v, want %v (requests %v)", got, want, requests)
	}
	for _, name := range want {
		if n := strings.Count(strings.Join(requests, " ")+" ", "/"+name+" "); n != 1 {
			t.Errorf("%s requested %d times, want once (requests %v)", name, n, requests)
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(data) != string(deployed[name].Data) {
			t.Errorf("%s: %q, %v", name, data, err)
		}
	}
}

func TestFetchUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u, _ := url.Parse(srv.URL)
	srv.Close() // nothing listens there now
	build := fstest.MapFS{"app-0000000000000002.js": {Data: []byte("new glue")}}
	if got, err := Fetch(context.Background(), http.DefaultClient, u, build, t.TempDir(), slog.New(slog.DiscardHandler)); err == nil {
		t.Fatalf("fetched %v from a closed port, want an error", got)
	}
}
