package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/brisk-server/brisk/site"

	"github.com/brisk-server/brisk/internal/testkit"
)

// caddyEdge runs Debian's Caddy as a stand-in for Fly's edge proxy: it
// terminates TLS (its own internal CA, never installed anywhere) and
// speaks HTTP/2 to the browser at https://localhost:PORT, and forwards
// everything to brisk over h2c, as Fly's proxy does for an app whose
// fly.toml sets h2_backend. Caddy adds no encoding of its own (no encode
// directive) and flushes streamed responses as they come; it also passes
// on a 103 Early Hints. Its home, configuration and data live in a
// temporary directory, its admin endpoint is off, and the test stops it by
// PID.
func caddyEdge(t *testing.T, caddy, upstream string) (base string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "Caddyfile")
	caddyfile := fmt.Sprintf(`{
	admin off
	skip_install_trust
	log {
		level ERROR
	}
}
https://localhost:%d {
	bind 127.0.0.1
	tls internal
	reverse_proxy %s
}
`, port, upstream)
	if err := os.WriteFile(conf, []byte(caddyfile), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddy, "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_DATA_HOME="+filepath.Join(dir, "data"))
	out := &testkit.Log{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // our own child, by PID
		<-exited
	})
	// Ready once a TLS handshake succeeds: Caddy makes its certificate
	// after it starts listening.
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}); err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("caddy exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy not listening on %s within 20s: %s", addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Sprintf("https://localhost:%d", port)
}

// ssrPage writes, outside the site, the demo's page as an SSR server
// streams one: in three pieces (see fakessr), the first ending right
// after <body>, the second a paragraph, each ending with a script that
// tells the server the browser has parsed it.
func ssrPage(t *testing.T) string {
	t.Helper()
	demo, err := fs.ReadFile(site.FS(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	got := func(n int) string { return fmt.Sprintf(`<script>fetch("/ssr/got?n=%d")</script>`, n) }
	page := replaceOnce(t, string(demo), "<body>", "<body>\n"+got(0)+"<!--piece-->\n"+
		"<p hidden>streamed after the shell, as a resolved suspense would be</p>"+got(1)+"<!--piece-->")
	name := filepath.Join(t.TempDir(), "ssr.html")
	if err := os.WriteFile(name, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// spki is the base64 SHA-256 of the public key of the certificate that
// the TLS server at base presents, as Chromium's
// --ignore-certificate-errors-spki-list wants it.
func spki(t *testing.T, base string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.Replace(strings.TrimPrefix(base, "https://"), "localhost", "127.0.0.1", 1),
		&tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// edgeBrowser starts Chromium trusting the certificates of the TLS
// servers at bases (neither Caddy's internal CA nor brisk's self-signed
// certificate is trusted otherwise), and returns a tab and its events.
// Trusting them by key, rather than ignoring certificate errors, keeps the
// connection free of errors, and Chromium acts on 103 Early Hints only on
// such a connection.
func edgeBrowser(t *testing.T, chromium string, bases ...string) (context.Context, *tabEvents) {
	t.Helper()
	var keys []string
	for _, b := range bases {
		keys = append(keys, spki(t, b))
	}
	return newTab(t, chromium, browserTimeout, chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(keys, ",")))
}

// TestBrowserThroughTLSEdge takes the path users' browsers take: HTTPS and
// HTTP/2 to an edge proxy, h2c from it to brisk, and from brisk to the
// application server for the page. The page is the demo's, streamed by a
// stand-in SSR server in three pieces, each sent only once the browser has
// parsed the one before: if anything on the way held the stream back
// (brisk encoding it whole, as Fly's proxy would if brisk left it
// unencoded), the server would wait in vain. The demo app must start, its
// wasm arrive as br with Content-Type application/wasm, and brisk's own
// page bring its 103 Early Hints through the edge.
func TestBrowserThroughTLSEdge(t *testing.T) {
	chromium := testkit.RequireTool(t, chromiumPath)
	caddy := testkit.RequireTool(t, "caddy")

	dir := t.TempDir()
	if err := os.CopyFS(dir, site.FS()); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKESSR_PAGE", ssrPage(t))
	t.Setenv("FAKESSR_TERM_CODE", "0") // brisk exits with its child's code
	base, log := startPrecompressed(t, dir, "br", "--exec", fakeSSR(t))
	edge := caddyEdge(t, caddy, "h2c://"+strings.TrimPrefix(base, "http://"))
	ctx, events := edgeBrowser(t, chromium, edge)

	if err := chromedp.Do(ctx, chromedp.Navigate(edge+"/ssr/page")); err != nil {
		t.Fatalf("navigate to %s/ssr/page: %v", edge, err)
	}
	if state := waitWasm(ctx, t); state != "ready" {
		t.Fatalf("data-wasm = %q, want ready", state)
	}
	for _, want := range []string{
		"the client had piece 0 before piece 1 was sent",
		"the client had piece 1 before piece 2 was sent",
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the page did not stream: the SSR server did not log %q; log:\n%s", want, log.String())
		}
	}
	reqs := events.snapshot().reqs
	for _, c := range []struct{ path, encoding, mime string }{
		// brisk encodes the stream itself, with the one coding it was
		// given (--encodings br).
		{"/ssr/page", "br", "text/html"},
		{wasmPath, "br", "application/wasm"},
	} {
		rs := requestsFor(reqs, c.path)
		if len(rs) == 0 || rs[0].resp == nil {
			t.Errorf("%s: no response", c.path)
			continue
		}
		r := rs[0]
		t.Logf("%s: %s, %d %s, Content-Encoding %q, %.0f bytes in %d pieces", c.path, r.resp.Protocol,
			r.resp.Status, r.resp.MimeType, header(r.resp.Headers, "Content-Encoding"), r.wireBytes, r.pieces)
		if c.path == "/ssr/page" && r.pieces < 3 {
			t.Errorf("%s arrived in %d pieces, want 3 or more", c.path, r.pieces)
		}
		if r.resp.Status != 200 || r.resp.MimeType != c.mime || r.resp.Protocol != "h2" ||
			header(r.resp.Headers, "Content-Encoding") != c.encoding {
			t.Errorf("%s: %s %d %q, Content-Encoding %q; want h2 200 %s, %s", c.path, r.resp.Protocol, r.resp.Status,
				r.resp.MimeType, header(r.resp.Headers, "Content-Encoding"), c.mime, c.encoding)
		}
	}

	// brisk's own page: its 103 crosses the edge to the browser. (A new
	// query each load, so that the page is not revalidated: a 304 comes
	// without a 103.)
	for attempt := 1; ; attempt++ {
		before := len(reqs)
		if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/?load=%d", edge, attempt))); err != nil {
			t.Fatal(err)
		}
		if state := waitWasm(ctx, t); state != "ready" {
			t.Fatalf("data-wasm = %q on /, want ready", state)
		}
		reqs = events.snapshot().reqs
		pages := requestsFor(reqs[before:], "/")
		if len(pages) > 0 && pages[0].earlyHints != nil {
			t.Logf("/, load %d: 103 Early Hints with Link %q", attempt, header(pages[0].earlyHints, "Link"))
			break
		}
		t.Logf("/, load %d: no 103 Early Hints reported", attempt)
		if attempt == hintAttempts {
			t.Errorf("no 103 Early Hints reached the browser through the edge for / in %d loads", attempt)
			break
		}
	}
}

// hintAttempts is how many loads a browser test gives Chromium to act on
// a 103. brisk sends the same 103 every time (the server's tests check it
// byte for byte), but Chromium, with the server on loopback, now and then
// takes no notice of one: DevTools reports no Early Hints for that load
// (about one load in six on a busy two-core machine). Every load is
// logged; one must show the whole effect.
const hintAttempts = 3

// TestBrowserEarlyHintsOverTLS: Chromium acts on a 103 only over HTTP/2
// or later. Straight to brisk over TLS (--tls self-signed), on a slow
// network where a long page takes a second or more to arrive, Chromium must
// report the 103 for the page, fetch the wasm on its word (DevTools marks
// the response as served from the Early Hints preload), and have the wasm
// before the page's body has finished arriving. The glue and wasm are
// cached for a while (--cache-control), as hashed production builds are,
// so that the page takes the preloaded responses as they are; a response
// that must be revalidated is fetched again instead. Each load gets a
// fresh browser, with nothing cached.
func TestBrowserEarlyHintsOverTLS(t *testing.T) {
	chromium := testkit.RequireTool(t, chromiumPath)
	dir := t.TempDir()
	if err := os.CopyFS(dir, site.FS()); err != nil {
		t.Fatal(err)
	}
	index := filepath.Join(dir, "index.html")
	demo, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	long := replaceOnce(t, string(demo), "<main>", "<main>"+noisyText(200<<10))
	if err := os.WriteFile(index, []byte(long), 0o644); err != nil {
		t.Fatal(err)
	}
	base, _ := startPrecompressed(t, dir, "br", "--tls", "self-signed", "--cache-control", "pkg/*=public, max-age=600")
	u := localhostURL(t, base)
	for attempt := 1; attempt <= hintAttempts; attempt++ {
		page, wasm := loadHinted(t, chromium, base, u.String())
		t.Logf("load %d: page over %s, 103 Link %q; page body (%.0f bytes, %s) complete after %.0f ms; wasm from the Early Hints preload: %v, complete after %.0f ms",
			attempt, page.resp.Protocol, header(page.earlyHints, "Link"), page.wireBytes, header(page.resp.Headers, "Content-Encoding"),
			1000*(page.loaded-page.sent), wasm.resp.FromEarlyHints, 1000*(wasm.loaded-page.sent))
		if page.resp.Protocol != "h2" {
			t.Fatalf("page over %s, want h2", page.resp.Protocol)
		}
		if page.earlyHints == nil && attempt < hintAttempts {
			continue // Chromium took no notice of the 103 this time
		}
		if !strings.Contains(header(page.earlyHints, "Link"), wasmPath) {
			t.Errorf("103 Link %q does not name %s", header(page.earlyHints, "Link"), wasmPath)
		}
		if !wasm.resp.FromEarlyHints {
			t.Errorf("the wasm did not come from the Early Hints preload")
		}
		if !(wasm.loaded < page.loaded) {
			t.Errorf("the wasm was complete %.0f ms after the page's body, not before", 1000*(wasm.loaded-page.loaded))
		}
		return
	}
}

// loadHinted loads url in a fresh browser on a slow network and returns
// what DevTools saw of the page and of the wasm.
func loadHinted(t *testing.T, chromium, base, url string) (page, wasm tabRequest) {
	t.Helper()
	ctx, events := edgeBrowser(t, chromium, base)
	// 50 ms of latency and 100 kB/s down: the page, over 100 kB as br,
	// takes a second or more. (Chromium does not slow down the requests
	// it makes on an Early Hint's word.)
	if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{Latency: 50, DownloadThroughput: 100_000, UploadThroughput: -1}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate to %s: %v", url, err)
	}
	if state := waitWasm(ctx, t); state != "ready" {
		t.Fatalf("data-wasm = %q, want ready", state)
	}
	reqs := events.snapshot().reqs
	pages, wasms := requestsFor(reqs, "/"), requestsFor(reqs, wasmPath)
	if len(pages) == 0 || pages[0].resp == nil || len(wasms) == 0 || wasms[0].resp == nil {
		t.Fatalf("%d page and %d wasm requests seen", len(pages), len(wasms))
	}
	return pages[0], wasms[0]
}

// noisyText is about n bytes of paragraphs of pseudo-random words, which
// compress to about half: a long page that stays long as br.
func noisyText(n int) string {
	r := rand.New(rand.NewPCG(11, 13))
	var b strings.Builder
	for b.Len() < n {
		b.WriteString("<p>")
		for range 12 {
			fmt.Fprintf(&b, "%x ", r.Uint32())
		}
		b.WriteString("</p>\n")
	}
	return b.String()
}
