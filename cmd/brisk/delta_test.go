package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brisk-server/brisk/compress"
)

// appBuild writes a Trunk-style build into dir: a page, and glue and wasm
// named after their version. Each version is the one before with a small
// change, as a rebuild after a small code change.
func appBuild(t *testing.T, dir string, version int) (wasmName string, wasm []byte) {
	t.Helper()
	wasm = wasmOf(version)
	hash := func(kind string) string { return strings.Repeat("0", 15) + string(rune('0'+version)) + kind }
	wasmName = "app-" + hash("_bg.wasm")
	files := map[string][]byte{
		"index.html":         []byte(`<link rel="modulepreload" href="/app-` + hash(".js") + `"><link rel="preload" href="/` + wasmName + `" as="fetch">`),
		"app-" + hash(".js"): []byte(strings.Repeat("export function f() { return "+wasmName+"; }\n", 100)),
		wasmName:             wasm,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return wasmName, wasm
}

// wasmOf is version v of a 200 KB module-like file.
func wasmOf(v int) []byte {
	r := rand.New(rand.NewPCG(1, 1))
	words := strings.Fields("i32.add local.get call_indirect memory.grow br_if block loop end func param result")
	var b bytes.Buffer
	for b.Len() < 200_000 {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(" \n"[r.IntN(2)])
	}
	out := b.Bytes()
	for i := 1; i <= v; i++ {
		copy(out[i*10_000:], "a change made in version "+string(rune('0'+i)))
	}
	return out
}

func availableDictionary(dict []byte) string {
	sum := sha256.Sum256(dict)
	return ":" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

// getDelta asks for name as Chromium does when it has dict.
func getDelta(t *testing.T, url string, dict []byte) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd, dcb, dcz")
	req.Header.Set("Available-Dictionary", availableDictionary(dict))
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func runPrecompress(t *testing.T, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	if code := run(context.Background(), append([]string{"precompress", "--encodings", "gzip"}, args...), io.Discard, &stderr); code != exitOK {
		t.Fatalf("brisk precompress %v: exit %d\n%s", args, code, stderr.String())
	}
	return stderr.String()
}

func dczSidecars(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.dcz"))
	return m
}

// The deploy path: `brisk precompress --previous OLD NEW` writes the
// deltas, and a new brisk serves them from the sidecars to a browser that
// has the old version.
func TestPrecompressPreviousServesDeltas(t *testing.T) {
	old, build := t.TempDir(), t.TempDir()
	_, v1 := appBuild(t, old, 1)
	name, v2 := appBuild(t, build, 2)
	runPrecompress(t, "--previous", old, build)
	if got := dczSidecars(t, build); len(got) != 2 { // the wasm and the glue
		t.Fatalf("delta sidecars %v, want the wasm's and the glue's", got)
	}
	base, _ := startBrisk(t, "--encodings", "gzip", build)
	resp, body := getDelta(t, base+"/"+name, v1)
	if resp.Header.Get("Content-Encoding") != "dcz" {
		t.Fatalf("Content-Encoding %q, want dcz", resp.Header.Get("Content-Encoding"))
	}
	plain, err := compress.DecodeDelta(compress.DeltaZstd, body, v1, int64(len(v2)))
	if err != nil || !bytes.Equal(plain, v2) {
		t.Fatalf("the delta does not decode to the new version: %v", err)
	}
	t.Logf("%s: %d bytes as a delta against the previous version, %d bytes whole", name, len(body), len(v2))
}

// --previous-url finds the deployed versions from the deployed page; a
// site that cannot be reached is one warning, and the build goes on.
func TestPrecompressPreviousURL(t *testing.T) {
	old, build := t.TempDir(), t.TempDir()
	appBuild(t, old, 1)
	appBuild(t, build, 2)
	deployed := httptest.NewServer(http.FileServer(http.Dir(old)))
	defer deployed.Close()
	log := runPrecompress(t, "--previous-url", deployed.URL, build)
	if got := dczSidecars(t, build); len(got) != 2 {
		t.Fatalf("delta sidecars %v, want the wasm's and the glue's; log:\n%s", got, log)
	}

	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	other := t.TempDir()
	wasm3, _ := appBuild(t, other, 3)
	log = runPrecompress(t, "--previous-url", gone.URL, other)
	if n := strings.Count(log, "level=WARN"); n != 1 || !strings.Contains(log, "cannot read the deployed site") {
		t.Errorf("want one warning about the deployed site, got %d:\n%s", n, log)
	}
	if got := dczSidecars(t, other); len(got) != 0 {
		t.Errorf("delta sidecars %v without a previous build", got)
	}
	if _, err := os.Stat(filepath.Join(other, wasm3+".gz")); err != nil {
		t.Errorf("the other sidecars were not written: %v", err)
	}

	// A Dockerfile's ARG BRISK_PREVIOUS_URL left empty asks for nothing.
	t.Setenv("BRISK_PREVIOUS_URL", "")
	runPrecompress(t, t.TempDir())
}

// A site whose wasm has no hashed name hears once how to get one; a
// hashed one hears nothing.
func TestHashedNamesHint(t *testing.T) {
	plain := siteWith(t, "app_bg.wasm", strings.Repeat("wasm ", 1000))
	_, log := startBrisk(t, "--encodings", "gzip", plain)
	if n := strings.Count(log.String(), "no hashed wasm name"); n != 1 {
		t.Errorf("hint said %d times for an unhashed wasm; log:\n%s", n, log.String())
	}
	hashed := siteWith(t, "app-0123456789abcdef_bg.wasm", strings.Repeat("wasm ", 1000))
	_, log = startBrisk(t, "--encodings", "gzip", hashed)
	if strings.Contains(log.String(), "no hashed wasm name") {
		t.Errorf("hint for a hashed wasm; log:\n%s", log.String())
	}
	// What the hint says is about caching: a rule that serves the wasm
	// as immutable leaves nothing to say.
	_, log = startBrisk(t, "--encodings", "gzip", "--cache-control", "*.wasm=public, max-age=31536000, immutable", plain)
	if strings.Contains(log.String(), "no hashed wasm name") {
		t.Errorf("hint for a wasm a rule serves as immutable; log:\n%s", log.String())
	}
}
