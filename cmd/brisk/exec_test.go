package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brisk-server/brisk/internal/testkit"
)

// fakeSSR is the stand-in application server.
func fakeSSR(t *testing.T) string { return goBuild(t, "./testdata/fakessr", "fakessr") }

// ssrSite is a cargo-leptos style target/site with a pkg directory.
func ssrSite(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "pkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pkg", "app.js"), []byte("export default 1"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// brisk starts the SSR binary with LEPTOS_SITE_ADDR, serves the site's
// files itself and proxies the rest; on SIGTERM it drains, passes the
// signal on, and exits with the child's code.
func TestExecChildLifecycle(t *testing.T) {
	t.Setenv("FAKESSR_TERM_CODE", "3")
	p := startProcess(t, ssrSite(t), "--", fakeSSR(t))
	status, body := get(t, p.url+"/todos")
	if status != 200 || !strings.HasPrefix(body, "ssr GET /todos from 127.0.0.1:") {
		t.Fatalf("proxied: %d %q", status, body)
	}
	if status, body := get(t, p.url+"/pkg/app.js"); status != 200 || body != "export default 1" {
		t.Errorf("site file: %d %q", status, body)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t, 10*time.Second); code != 3 {
		t.Errorf("exit code %d, want the child's 3; log:\n%s", code, p.log.String())
	}
}

func TestExecChildExitEndsBrisk(t *testing.T) {
	t.Setenv("FAKESSR_EXIT_AFTER", "500ms")
	p := startProcess(t, ssrSite(t), "--exec", fakeSSR(t))
	if code := p.exitCode(t, 10*time.Second); code != 7 {
		t.Errorf("exit code %d, want the child's 7; log:\n%s", code, p.log.String())
	}
}

// On idle exit brisk stops the child gracefully and exits 0, whatever the
// child's own code, so that Fly leaves the machine stopped.
func TestExecIdleExitStopsChild(t *testing.T) {
	t.Setenv("FAKESSR_TERM_CODE", "5")
	p := startProcess(t, ssrSite(t), "--idle-timeout", "500ms", "--", fakeSSR(t))
	get(t, p.url+"/") // the child serves before brisk goes idle
	if code := p.exitCode(t, 10*time.Second); code != 0 {
		t.Errorf("exit code %d after idle, want 0; log:\n%s", code, p.log.String())
	}
	if !strings.Contains(p.log.String(), "application server stopped") || !strings.Contains(p.log.String(), "code=5") {
		t.Errorf("the child was not stopped gracefully; log:\n%s", p.log.String())
	}
}

// A port taken by another process before the child binds it is named in
// the one line brisk exits with, and brisk exits with the child's code.
func TestExecPortClashIsNamed(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	defer func(pick func() (string, error)) { pickChildAddr = pick }(pickChildAddr)
	pickChildAddr = func() (string, error) { return held.Addr().String(), nil }
	var log testkit.Log
	code := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", ssrSite(t), "--", fakeSSR(t)}, io.Discard, &log)
	if want := "another process holds its port " + held.Addr().String(); code != 2 || !strings.Contains(log.String(), want) {
		t.Errorf("exit code %d (want fakessr's 2), log lacks %q:\n%s", code, want, log.String())
	}
}

// The child's address is a free loopback port below every OS's range of
// ports handed out by the kernel itself.
func TestChildAddrOutsideEphemeralPorts(t *testing.T) {
	for range 20 {
		addr, err := childAddr()
		if err != nil {
			t.Fatal(err)
		}
		host, port, _ := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(port)
		if host != "127.0.0.1" || n < childPortLow || n >= childPortHigh {
			t.Fatalf("childAddr() = %s", addr)
		}
	}
}

// A child that never listens is waited for, and brisk says once that it
// is still waiting and what the child must do.
func TestExecChildNotListeningIsReported(t *testing.T) {
	t.Setenv("FAKESSR_NO_LISTEN", "1")
	t.Setenv("FAKESSR_TERM_CODE", "0")
	defer func(d time.Duration) { readyWarnAfter = d }(readyWarnAfter)
	readyWarnAfter = 100 * time.Millisecond
	_, log := startBrisk(t, ssrSite(t), "--", fakeSSR(t))
	log.WaitFor(t, regexp.MustCompile(`does not accept connections yet; it must listen on LEPTOS_SITE_ADDR`), 5*time.Second)
}
