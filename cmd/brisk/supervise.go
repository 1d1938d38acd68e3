package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// child is the application server brisk started with --exec (a Leptos SSR
// binary): it gets a loopback port of its own in LEPTOS_SITE_ADDR, and
// brisk proxies to it.
type child struct {
	cmd   *exec.Cmd
	addr  string
	ready chan struct{} // closed once it accepts connections
	done  chan struct{} // closed once it has exited
	code  int           // exit code, valid after done
}

var (
	childrenMu sync.Mutex
	children   = map[*child]bool{}
)

// killChildren is for the second signal: brisk exits at once and must not
// leave its child behind.
func killChildren() {
	childrenMu.Lock()
	defer childrenMu.Unlock()
	for c := range children {
		_ = c.cmd.Process.Kill()
	}
}

// startChild runs argv with LEPTOS_SITE_ADDR set to a free loopback port.
// The child gets its own process group: a Ctrl-C in the terminal reaches
// brisk only, which drains its own requests before passing the signal on.
func startChild(argv []string, stdout, stderr io.Writer, log *slog.Logger) (*child, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("find a port for the child: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := &child{addr: addr, ready: make(chan struct{}), done: make(chan struct{})}
	c.cmd = exec.Command(argv[0], argv[1:]...)
	c.cmd.Env = append(os.Environ(), "LEPTOS_SITE_ADDR="+addr)
	c.cmd.Stdout, c.cmd.Stderr = stdout, stderr
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	childrenMu.Lock()
	children[c] = true
	childrenMu.Unlock()
	log.Info("started application server", "cmd", argv[0], "pid", c.cmd.Process.Pid, "addr", addr)
	go func() {
		_ = c.cmd.Wait() // the exit status is in ProcessState
		c.code = exitCode(c.cmd.ProcessState)
		childrenMu.Lock()
		delete(children, c)
		childrenMu.Unlock()
		close(c.done)
	}()
	go c.waitReady(log)
	return c, nil
}

// waitReady polls the child's port until it accepts a connection.
func (c *child) waitReady(log *slog.Logger) {
	start := time.Now()
	for {
		select {
		case <-c.done:
			return
		default:
		}
		if conn, err := net.DialTimeout("tcp", c.addr, time.Second); err == nil {
			conn.Close()
			log.Info("application server is ready", "addr", c.addr, "after", time.Since(start).Round(time.Millisecond))
			close(c.ready)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop passes sig on and waits for the child to exit, killing it after
// timeout.
func (c *child) stop(sig os.Signal, timeout time.Duration, log *slog.Logger) int {
	select {
	case <-c.done:
		return c.code
	default:
	}
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
	case <-time.After(timeout):
		log.Warn("application server did not stop in time; killing it", "timeout", timeout)
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	return c.code
}

// exitCode maps a finished process to the exit status a shell would show:
// its own code, or 128+N when signal N ended it.
func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return exitFailure
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if code := ps.ExitCode(); code >= 0 {
		return code
	}
	return exitFailure
}

// signalOf returns the signal that cancelled ctx, or SIGTERM.
func signalOf(ctx context.Context) os.Signal {
	var s stopSignal
	if errors.As(context.Cause(ctx), &s) {
		return s.Signal
	}
	return syscall.SIGTERM
}
