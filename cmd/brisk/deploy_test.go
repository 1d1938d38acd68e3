package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/brisk-server/brisk/internal/testkit"
)

// No Docker engine runs in CI, so the image cannot be built there; these
// tests check what the image depends on instead.
func TestDockerfileEssentials(t *testing.T) {
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(data)
	stages := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(stages) < 3 {
		t.Fatalf("want a multi-stage build, found %d stages", len(stages))
	}
	final := df[strings.LastIndex(df, "\nFROM "):]
	for _, want := range []struct{ what, re, in string }{
		{"static binary", `CGO_ENABLED=0 go build -trimpath -ldflags="-s -w"`, df},
		{"precompress at build time", `RUN /out/brisk precompress /site`, df},
		{"distroless or scratch final stage", `^\nFROM (gcr\.io/distroless/static\S*|scratch)\n`, final},
		{"non-root user", `\nUSER (nonroot|65532|65534)\S*\n`, final},
		{"port 8080", `\nEXPOSE 8080\n`, final},
		{"entrypoint brisk serve", `\nENTRYPOINT \["/brisk", "serve"\]\n`, final},
		{"site copied into the image", `\nCOPY --from=precompress /site /site\n`, final},
		{"no watching of an image's fixed site", `\nENV BRISK_WATCH=false\n`, final},
		{"nothing but binary and site in the final stage", `^(\n(#.*|FROM .*|COPY --from=(build /out/brisk /brisk|precompress /site /site)|USER .*|EXPOSE .*|ENV .*|ENTRYPOINT .*|CMD .*)?)+\n?$`, final},
	} {
		if !regexp.MustCompile(want.re).MatchString(want.in) {
			t.Errorf("Dockerfile: no %s (want /%s/)", want.what, want.re)
		}
	}
}

func TestFlyTomlEssentials(t *testing.T) {
	var cfg struct {
		KillSignal  string            `toml:"kill_signal"`
		KillTimeout string            `toml:"kill_timeout"`
		Env         map[string]string `toml:"env"`
		Metrics     struct {
			Port int    `toml:"port"`
			Path string `toml:"path"`
		} `toml:"metrics"`
		HTTPService struct {
			InternalPort       int    `toml:"internal_port"`
			AutoStopMachines   string `toml:"auto_stop_machines"`
			AutoStartMachines  bool   `toml:"auto_start_machines"`
			MinMachinesRunning int    `toml:"min_machines_running"`
			Concurrency        struct {
				Type string `toml:"type"`
			} `toml:"concurrency"`
			HTTPOptions struct {
				H2Backend bool `toml:"h2_backend"`
			} `toml:"http_options"`
			Checks []struct {
				Method string `toml:"method"`
				Path   string `toml:"path"`
			} `toml:"checks"`
		} `toml:"http_service"`
	}
	if _, err := toml.DecodeFile("../../fly.toml", &cfg); err != nil {
		t.Fatal(err)
	}
	hs := cfg.HTTPService
	if hs.AutoStopMachines != "off" || !hs.AutoStartMachines || hs.MinMachinesRunning != 0 {
		t.Errorf("scale to zero by idle exit needs auto_stop_machines=off, auto_start_machines=true, min_machines_running=0; got %q, %v, %d",
			hs.AutoStopMachines, hs.AutoStartMachines, hs.MinMachinesRunning)
	}
	if hs.InternalPort != 8080 || hs.Concurrency.Type != "requests" {
		t.Errorf("internal_port %d, concurrency %q", hs.InternalPort, hs.Concurrency.Type)
	}
	if !hs.HTTPOptions.H2Backend {
		t.Error("[http_service.http_options] h2_backend must be true: over HTTP/1.1 Fly's proxy passes no 103 Early Hints a browser acts on")
	}
	if len(hs.Checks) == 0 || hs.Checks[0].Path != "/healthz" {
		t.Errorf("no HTTP check on /healthz: %+v", hs.Checks)
	}
	if cfg.KillSignal != "SIGINT" && cfg.KillSignal != "SIGTERM" {
		t.Errorf("kill_signal %q: brisk drains on SIGINT and SIGTERM", cfg.KillSignal)
	}
	kill, err1 := time.ParseDuration(cfg.KillTimeout)
	drain, err2 := time.ParseDuration(cfg.Env["BRISK_SHUTDOWN_TIMEOUT"])
	if err1 != nil || err2 != nil || drain >= kill {
		t.Errorf("BRISK_SHUTDOWN_TIMEOUT %q must be shorter than kill_timeout %q", cfg.Env["BRISK_SHUTDOWN_TIMEOUT"], cfg.KillTimeout)
	}
	if _, port, _ := strings.Cut(cfg.Env["BRISK_METRICS_ADDR"], ":"); port != strconv.Itoa(cfg.Metrics.Port) || cfg.Metrics.Path != "/metrics" {
		t.Errorf("[metrics] port %d path %q must point at BRISK_METRICS_ADDR %q and /metrics", cfg.Metrics.Port, cfg.Metrics.Path, cfg.Env["BRISK_METRICS_ADDR"])
	}
	if idle, err := time.ParseDuration(cfg.Env["BRISK_IDLE_TIMEOUT"]); err != nil || idle <= 0 {
		t.Errorf("BRISK_IDLE_TIMEOUT %q: want a positive duration", cfg.Env["BRISK_IDLE_TIMEOUT"])
	}
}

// TestEmptyRootUnprivileged runs the static binary as in a distroless or
// scratch image: a root directory holding only /brisk and a read-only
// /site, no /etc, no /tmp, as an unprivileged user (chroot --userspec).
// brisk must serve the precompressed site, and precompress must refuse the
// read-only root with a clear message.
func TestEmptyRootUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this test as root (chroot)")
		}
		t.Skip("needs root for chroot")
	}
	newRoot := t.TempDir()
	bin := filepath.Join(newRoot, "brisk")
	data, err := os.ReadFile(briskBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	site := filepath.Join(newRoot, "site")
	if err := os.CopyFS(site, os.DirFS("../../site/dist")); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "precompress", "--encodings", "gzip", site).CombinedOutput(); err != nil {
		t.Fatalf("precompress: %v\n%s", err, out)
	}
	// Read-only for everyone but root, as COPY leaves it in an image.
	err = filepath.Walk(site, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() {
			return os.Chmod(p, 0o555)
		}
		return os.Chmod(p, 0o444)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(newRoot, 0o755); err != nil {
		t.Fatal(err)
	}

	// precompress as the unprivileged user: clear refusal, non-zero exit.
	out, err := exec.Command("chroot", "--userspec=65534:65534", newRoot, "/brisk", "precompress", "/site").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "/site is not writable") {
		t.Errorf("precompress on a read-only root: err %v, output %q", err, out)
	}

	log := &testkit.Log{}
	cmd := exec.Command("chroot", "--userspec=65534:65534", newRoot,
		"/brisk", "serve", "--addr", "127.0.0.1:0", "--encodings", "gzip", "/site")
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	base := log.WaitFor(t, servingURL, 10*time.Second)[1]
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	req, _ := http.NewRequest("GET", base+"/pkg/brisk_demo_bg.wasm", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Content-Type") != "application/wasm" {
		t.Errorf("wasm in the empty root: %d, %q, %q", resp.StatusCode, resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Type"))
	}
	if strings.Contains(log.String(), "precompressed path=") {
		t.Errorf("brisk compressed at startup although sidecars were there:\n%s", log.String())
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit %d after SIGTERM; log:\n%s", code, log.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
}

// The serving binary stays free of packages whose initialisation every
// cold start would pay before listening (measured in pages of memory
// touched, the main cost of starting a process on a small VM).
func TestColdStartDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	// x/net/html's init builds a 2,231-entry entity map;
	// server/headscan.go finds preload links without it.
	if slices.Contains(strings.Fields(string(out)), "golang.org/x/net/html") {
		t.Error("cmd/brisk depends on golang.org/x/net/html")
	}
}
