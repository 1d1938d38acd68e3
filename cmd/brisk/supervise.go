package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
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

// startChild runs argv with LEPTOS_SITE_ADDR set to a free loopback
// address (see childAddr), in a process group of its own.
func startChild(argv []string, stdout, stderr io.Writer, log *slog.Logger) (*child, error) {
	addr, err := pickChildAddr()
	if err != nil {
		return nil, fmt.Errorf("find a port for the child: %w", err)
	}
	c := &child{addr: addr, ready: make(chan struct{}), done: make(chan struct{})}
	c.cmd = exec.Command(argv[0], argv[1:]...)
	c.cmd.Env = append(os.Environ(), "LEPTOS_SITE_ADDR="+addr)
	c.cmd.Stdout, c.cmd.Stderr = stdout, stderr
	c.cmd.SysProcAttr = ownProcessGroup()
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

// pickChildAddr is childAddr; tests replace it to force a clash.
var pickChildAddr = childAddr

// childPortLow and childPortHigh bound where childAddr looks: below the ports any OS hands out
// by itself (Linux from 32768, macOS and Windows from 49152), so no
// other program's bind to port 0 or outgoing connection can take the
// port between brisk's check and the child's bind; only a program that
// asks for that very port can.
const childPortLow, childPortHigh = 20000, 32000

// childAddr finds a loopback port that is free now, between childPortLow
// and childPortHigh.
func childAddr() (string, error) {
	var err error
	for range 100 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(childPortLow+rand.IntN(childPortHigh-childPortLow)))
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr, nil
		}
	}
	return "", err
}

// readyWarnAfter is how long the child may take to accept connections
// before brisk says it is still waiting, once.
var readyWarnAfter = 10 * time.Second

// waitReady polls the child's port until it accepts a connection, or the
// child exits.
func (c *child) waitReady(log *slog.Logger) {
	start := time.Now()
	warned := false
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
		if !warned && time.Since(start) > readyWarnAfter {
			warned = true
			log.Warn("the application server does not accept connections yet; it must listen on LEPTOS_SITE_ADDR", "addr", c.addr, "waited", readyWarnAfter)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exitHint explains an exited child's exit when brisk can: another
// process holding its port is the likeliest reason a server quits at
// start. It is "" otherwise.
func (c *child) exitHint() string {
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return "another process holds its port " + c.addr + "; start brisk again"
	}
	ln.Close()
	return ""
}

// stop passes sig on and waits for the child to exit, killing it after
// timeout.
func (c *child) stop(sig os.Signal, timeout time.Duration, log *slog.Logger) int {
	select {
	case <-c.done:
		return c.code
	default:
	}
	if err := c.cmd.Process.Signal(sig); err != nil {
		_ = c.cmd.Process.Kill() // Windows delivers no signals to another process
	}
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
