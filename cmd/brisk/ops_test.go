package main

import (
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/brisk-server/brisk/server"
)

// The operations flags, wired end to end: metrics on their own listener,
// one access log line per request, header rules, the not-found page.
func TestOperationsFlags(t *testing.T) {
	dir := siteWith(t, "index.html", "<p>home</p>")
	if err := os.WriteFile(filepath.Join(dir, "404.html"), []byte("<p>lost</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BRISK_HEADER", "*.html=Content-Security-Policy: script-src 'self' 'wasm-unsafe-eval'\n*=X-Frame-Options: DENY\n")
	base, log := startBrisk(t, dir, "--encodings", "gzip", "--log-format", "json",
		"--metrics-addr", "127.0.0.1:0", "--access-log")
	metricsURL := log.WaitFor(t, regexp.MustCompile(`"msg":"metrics","url":"(http://[^"]+)"`), 5*time.Second)[1]

	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Security-Policy") != "script-src 'self' 'wasm-unsafe-eval'" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("header rules from BRISK_HEADER: CSP %q, XFO %q", resp.Header.Get("Content-Security-Policy"), resp.Header.Get("X-Frame-Options"))
	}
	if code, body := get(t, base+"/no/such/page"); code != 404 || body != "<p>lost</p>" {
		t.Errorf("not-found page: %d %q", code, body)
	}
	code, text := get(t, metricsURL)
	if code != 200 || !strings.Contains(text, `brisk_http_requests_total{code="4xx",encoding="identity"} 1`) ||
		!strings.Contains(text, "brisk_startup_seconds ") {
		t.Errorf("metrics: %d\n%s", code, text)
	}
	log.WaitFor(t, regexp.MustCompile(`"msg":"request","method":"GET","path":"/no/such/page","status":404,"coding":"identity","bytes":11,"duration":\d+,"client":"127.0.0.1"`), 5*time.Second)
}

// A repeatable flag takes its values from the command line when given
// there, and from its environment variable (one value a line) otherwise.
func TestRepeatableFlagFromEnvOrCommandLine(t *testing.T) {
	env := map[string]string{"BRISK_HEADER": "*=X-A: 1\n\n*.wasm=X-B: 2\n"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"X-A: 1", "X-B: 2"}},
		{[]string{"--header", "*=X-C: 3", "--header", "*=X-D: 4"}, []string{"X-C: 3", "X-D: 4"}},
	} {
		var rules []server.HeaderRule
		fset := flag.NewFlagSet("t", flag.ContinueOnError)
		fset.Var(repeatable[server.HeaderRule]{&rules, server.ParseHeaderRule}, "header", "")
		if _, err := parseFlags(fset, tc.args, lookup); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rules {
			got = append(got, r.Name+": "+r.Value)
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("args %q: rules %q, want %q", tc.args, got, tc.want)
		}
	}
}

// Every repeatable flag reads its variable the same way: a value a line,
// and nothing from an empty one (a Dockerfile's ARG left unset).
func TestEveryRepeatableFlagSkipsBlankValues(t *testing.T) {
	env := map[string]string{
		"BRISK_CACHE_CONTROL": "", "BRISK_HEADER": "",
		"BRISK_PREVIOUS": "", "BRISK_PREVIOUS_URL": "\nhttps://a.example\n\nhttps://b.example",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	var cache []server.CacheRule
	var headers []server.HeaderRule
	var dirs, urls []string
	fset := flag.NewFlagSet("t", flag.ContinueOnError)
	fset.Var(repeatable[server.CacheRule]{&cache, server.ParseCacheRule}, "cache-control", "")
	fset.Var(repeatable[server.HeaderRule]{&headers, server.ParseHeaderRule}, "header", "")
	fset.Var(stringList(&dirs), "previous", "")
	fset.Var(stringList(&urls), "previous-url", "")
	if _, err := parseFlags(fset, nil, lookup); err != nil {
		t.Fatal(err)
	}
	if len(cache)+len(headers)+len(dirs) != 0 || strings.Join(urls, " ") != "https://a.example https://b.example" {
		t.Errorf("cache %v, headers %v, dirs %q, urls %q; want only the two URLs", cache, headers, dirs, urls)
	}
}
