package main

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/brisk-server/brisk/internal/testkit"
)

// builds holds one build per package, shared by the tests of a run.
var builds sync.Map // package path → *build

type build struct {
	once sync.Once
	path string
	err  error
}

// goBuild builds pkg once per test run, static and stripped as the
// Dockerfile builds brisk, so that it also runs in an empty root.
func goBuild(t *testing.T, pkg, name string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(pkg, &build{})
	b := v.(*build)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "brisk-test-bin")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", b.path, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = errors.New(string(out))
		}
	})
	if b.err != nil {
		t.Fatalf("go build %s: %v", pkg, b.err)
	}
	return b.path
}

// briskBinary is brisk itself, so that signals and exit codes are tested
// on a real process.
func briskBinary(t *testing.T) string { return goBuild(t, ".", "brisk") }

// proc is a brisk process started by a test.
type proc struct {
	cmd  *exec.Cmd
	log  *testkit.Log
	done chan error
	url  string
}

func startProcess(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{log: &testkit.Log{}, done: make(chan error, 1)}
	p.cmd = exec.Command(briskBinary(t), append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	p.cmd.Env = append(os.Environ(), "BRISK_ENCODINGS=gzip")
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = io.Copy(p.log, bufio.NewReader(stderr))
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill() // only our own child, by PID
			<-p.done
		}
	})
	p.url = p.log.WaitFor(t, servingURL, 10*time.Second)[1]
	return p
}

// exitCode waits for the process and returns its exit status.
func (p *proc) exitCode(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("brisk still running after %s; log:\n%s", within, p.log.String())
		return -1
	}
}

// bigSite is a root with one file larger than loopback socket buffers,
// so that a slow reader keeps a response in flight.
func bigSite(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	big := make([]byte, 24<<20)
	for i := range big {
		big[i] = byte(i * 13)
	}
	if err := os.WriteFile(filepath.Join(dir, "big.png"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// slowDownload starts reading /big.png a little at a time and reports the
// byte count and error when it ends.
func slowDownload(t *testing.T, url string, pause time.Duration) <-chan error {
	t.Helper()
	resp, err := http.Get(url + "/big.png")
	if err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	go func() {
		defer resp.Body.Close()
		n, buf := 0, make([]byte, 512<<10)
		for {
			m, err := resp.Body.Read(buf)
			n += m
			if err == io.EOF {
				if n != 24<<20 {
					err = io.ErrUnexpectedEOF
				} else {
					err = nil
				}
				result <- err
				return
			}
			if err != nil {
				result <- err
				return
			}
			time.Sleep(pause)
		}
	}()
	return result
}

// Fly stops a machine with SIGINT by default, others send SIGTERM: either
// lets the download in flight finish, then brisk exits 0.
func TestStopSignalDrainsThenExitsZero(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startProcess(t, bigSite(t))
			download := slowDownload(t, p.url, 20*time.Millisecond)
			time.Sleep(100 * time.Millisecond)
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if err := <-download; err != nil {
				t.Errorf("download cut by %v: %v", sig, err)
			}
			if code := p.exitCode(t, 10*time.Second); code != 0 {
				t.Errorf("exit code %d, want 0; log:\n%s", code, p.log.String())
			}
			if !strings.Contains(p.log.String(), "exiting: stop signal") {
				t.Errorf("no exit reason in the log:\n%s", p.log.String())
			}
		})
	}
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	p := startProcess(t, bigSite(t))
	download := slowDownload(t, p.url, 200*time.Millisecond) // would take about 10 s
	time.Sleep(100 * time.Millisecond)
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(100 * time.Millisecond)
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.exitCode(t, 3*time.Second); code != exitFailure {
		t.Errorf("exit code %d after a second signal, want %d", code, exitFailure)
	}
	if err := <-download; err == nil {
		t.Error("the download completed although brisk was told to exit at once")
	}
}

// With --idle-timeout, brisk exits 0 by itself once nothing but health
// checks arrive, saying why in one log line.
func TestIdleTimeoutExitsZero(t *testing.T) {
	p := startProcess(t, "--idle-timeout", "400ms")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if resp, err := http.Get(p.url + "/healthz"); err == nil {
					resp.Body.Close()
				}
			}
		}
	}()
	if code := p.exitCode(t, 10*time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if n := strings.Count(p.log.String(), "exiting: no requests for the idle timeout"); n != 1 {
		t.Errorf("want one idle exit line, got %d; log:\n%s", n, p.log.String())
	}
}
