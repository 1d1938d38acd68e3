package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/brisk-server/brisk/internal/testkit"
)

// servingURL reads the start line in either log format.
var servingURL = regexp.MustCompile(`"?msg"?[=:]"?serving\b.*?"?url"?[=:]"?(https?://[^"\s]+)`)

// startBrisk runs `brisk serve` in-process on a free loopback port, exactly
// as main wires it, and returns its base URL and log. It is stopped as by
// SIGTERM when the test ends, and must then exit 0.
func startBrisk(t *testing.T, args ...string) (baseURL string, log *testkit.Log) {
	t.Helper()
	return startRun(t, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...))
}

// startRun is startBrisk with the whole command line. What brisk prints
// for the user goes into the log too.
func startRun(t *testing.T, full []string) (baseURL string, log *testkit.Log) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log = &testkit.Log{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, full, log, log) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("brisk exited %d after the stop signal; log:\n%s", code, log.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("brisk did not stop within 10s of the stop signal")
		}
	})
	return log.WaitFor(t, servingURL, 10*time.Second)[1], log
}

// `go run ./cmd/brisk` with no arguments serves the demo.
func TestServeEmbeddedDemo(t *testing.T) {
	t.Setenv("BRISK_ADDR", "127.0.0.1:0")
	t.Setenv("BRISK_ENCODINGS", "gzip")
	base, _ := startRun(t, nil)
	for _, p := range []string{"/", "/pkg/brisk_demo.js", "/pkg/brisk_demo_bg.wasm", "/pkg/brisk_demo.css"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
}

// siteWith makes a site directory holding one file.
func siteWith(t *testing.T, name, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestServeDirectoryFromEnvAndFlags(t *testing.T) {
	dir := siteWith(t, "index.html", "<p>mine</p>")
	t.Setenv("BRISK_LOG_FORMAT", "json")
	t.Setenv("BRISK_ENCODINGS", "nonsense") // the flag below must win
	base, log := startBrisk(t, dir, "--encodings", "gzip")
	if _, body := get(t, base+"/"); body != "<p>mine</p>" {
		t.Errorf("GET / = %q", body)
	}
	if !strings.Contains(log.String(), `"msg":"serving"`) {
		t.Errorf("BRISK_LOG_FORMAT=json not applied; log:\n%s", log.String())
	}
}

// `brisk --flag ... ROOT` is `brisk serve --flag ... ROOT`.
func TestFlagsWithoutServeCommand(t *testing.T) {
	dir := siteWith(t, "index.html", "<p>mine</p>")
	base, _ := startRun(t, []string{"--addr", "127.0.0.1:0", "--encodings", "gzip", dir})
	if code, body := get(t, base+"/"); code != http.StatusOK || body != "<p>mine</p>" {
		t.Errorf("GET / = %d %q", code, body)
	}
}

// Without ROOT, an SSR setup finds its site where Leptos says it is.
func TestSiteRootFromLeptosEnv(t *testing.T) {
	t.Setenv("LEPTOS_SITE_ROOT", siteWith(t, "marker.txt", "from LEPTOS_SITE_ROOT"))
	base, _ := startBrisk(t, "--encodings", "gzip")
	if code, body := get(t, base+"/marker.txt"); body != "from LEPTOS_SITE_ROOT" {
		t.Errorf("GET /marker.txt = %d %q", code, body)
	}
}

// A command line that cannot work exits 2 with one line naming the problem.
func TestUsageErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file.txt")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(t.TempDir(), "locked")
	if err := os.Mkdir(unreadable, 0o000); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // in the one line on stderr
	}{
		{"unknown command", []string{"serv"}, nil, `unknown command "serv"`},
		{"unknown flag", []string{"serve", "--port", "80"}, nil, "flag provided but not defined: -port"},
		{"unknown flag without serve", []string{"--port", "80"}, nil, "flag provided but not defined: -port"},
		{"missing root", []string{"serve", "/does/not/exist"}, nil, "no such file or directory"},
		{"root is a file", []string{"serve", file}, nil, "not a directory"},
		{"two roots", []string{"serve", "a", "b"}, nil, "at most one ROOT"},
		{"bad encoding", []string{"serve", "--encodings", "br,lzma"}, nil, `unknown encoding "lzma"`},
		{"bad log format", []string{"serve", "--log-format", "xml"}, nil, "want text or json"},
		{"bad log level", []string{"serve", "--log-level", "loud"}, nil, "log-level"},
		{"bad env value", []string{"serve"}, map[string]string{"BRISK_LOG_LEVEL": "loud"}, "BRISK_LOG_LEVEL"},
		{"flag missing its value", []string{"serve", "--addr"}, nil, "flag needs an argument"},
		{"upstream not http", []string{"serve", "--upstream", "ftp://x"}, nil, "want an http:// or https:// URL"},
		{"exec and upstream", []string{"serve", "--upstream", "http://x", "--exec", "app"}, nil, "exclude each other"},
		{"exec twice", []string{"serve", "--exec", "app", "--", "app"}, nil, "either with --exec or after --"},
		{"spa with upstream", []string{"serve", "--spa", "--upstream", "http://x"}, nil, "exclude each other"},
		{"bad base path", []string{"serve", "--base-path", "app?x"}, nil, "--base-path"},
		{"bad cache rule", []string{"serve", "--cache-control", "*.wasm"}, nil, "want GLOB=VALUE"},
		{"header rule for a header brisk owns", []string{"serve", "--header", "*.wasm=Content-Type: text/plain"}, nil, "brisk sets Content-Type itself"},
		{"header rule without a value", []string{"serve", "--header", "*=X-Frame-Options"}, nil, "want GLOB=Name: value"},
		{"bad header rule in the environment", []string{"serve"}, map[string]string{"BRISK_HEADER": "*=X-A: 1\n*=Vary: Cookie"}, "BRISK_HEADER"},
		{"not-found outside the root", []string{"serve", "--not-found", "../404.html"}, nil, "--not-found"},
		{"bad metrics address", []string{"serve", "--metrics-addr", "nonsense"}, nil, "--metrics-addr"},
		{"no target/site for an SSR app", []string{"serve", "--upstream", "http://127.0.0.1:1"}, nil, "target/site"},
		{"missing previous build", []string{"precompress", "--previous", "/does/not/exist", t.TempDir()}, nil, "--previous /does/not/exist"},
		{"previous URL not http", []string{"precompress", "--previous-url", "app.example", t.TempDir()}, nil, "want an http:// or https:// URL"},
	}
	if os.Geteuid() != 0 { // root reads any directory
		tests = append(tests, struct {
			name string
			args []string
			env  map[string]string
			want string
		}{"unreadable root", []string{"serve", unreadable}, nil, "permission denied"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q does not mention %q", stderr.String(), tt.want)
			}
			if strings.Count(strings.TrimRight(stderr.String(), "\n"), "\n") != 0 {
				t.Errorf("stderr has more than one line: %q", stderr.String())
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"serve", "--help"}, {"serve", "-h"}, {"version"}} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != exitOK {
			t.Errorf("%v: exit %d", args, code)
		}
		if stdout.Len() == 0 || stderr.Len() != 0 {
			t.Errorf("%v: stdout %q, stderr %q", args, stdout.String(), stderr.String())
		}
	}
	var stdout bytes.Buffer
	run(context.Background(), []string{"serve", "--help"}, &stdout, io.Discard)
	for _, want := range []string{"--addr", "BRISK_ADDR", "--encodings", "BRISK_ENCODINGS", "--log-format", "--log-level"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("serve --help does not mention %s", want)
		}
	}
}
