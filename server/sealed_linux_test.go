package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/sys/unix"

	"github.com/brisk-server/brisk/compress"
)

// sealedSite serves a JS file whose br variant (about 220 KB) is over the
// size that gets a sealed copy, and returns the variant's bytes and the
// loop's address once the copy is made: the first responses go out from
// memory while it is.
func sealedSite(t *testing.T, cfg Config) (want []byte, addr string) {
	t.Helper()
	rnd := rand.New(rand.NewPCG(3, 4))
	js := make([]byte, 400_000)
	for i := range js {
		js[i] = 'a' + byte(rnd.IntN(20))
	}
	codings, err := compress.NewCodings("br", compress.Fast)
	if err != nil {
		t.Fatal(err)
	}
	store, err := compress.Open(fstest.MapFS{"pkg/big.js": {Data: js, ModTime: testMod}}, compress.Config{Codings: codings})
	if err != nil {
		t.Fatal(err)
	}
	store.Precompress(context.Background())
	a, _ := store.Snapshot().Lookup("pkg/big.js")
	br := &a.Variants()[0]
	if want, err = br.Bytes(); err != nil || len(want) < 64<<10 {
		t.Fatalf("fixture: %d bytes of br, %v", len(want), err)
	}
	cfg.Source = store
	addr = strings.TrimPrefix(newLoopbackServer(t, New(cfg)), "http://")
	conn := dial(t, addr, time.Minute)
	r := bufio.NewReaderSize(conn, 64<<10)
	for deadline := time.Now().Add(10 * time.Second); br.Sealed() == nil; {
		if time.Now().After(deadline) {
			t.Fatal("no sealed copy after 10 s")
		}
		if _, err := io.WriteString(conn, bigJS); err != nil {
			t.Fatal(err)
		}
		if _, got, _ := readAnswer(t, r, "GET", bigJS); !bytes.Equal(got, want) {
			t.Fatalf("from memory: %d bytes, want %d", len(got), len(want))
		}
	}
	return want, addr
}

const bigJS = "GET /pkg/big.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br\r\n\r\n"

// A large body in memory leaves the loop from its sealed copy once it has
// one, and reads the same as before: whole, in ranges, pipelined, and
// through the writer that observes responses for metrics and the log.
func TestLoopSendsLargeBodiesFromSealedCopies(t *testing.T) {
	for _, observing := range []bool{false, true} {
		t.Run(fmt.Sprintf("observed=%v", observing), func(t *testing.T) {
			var cfg Config
			if observing {
				cfg.Metrics, cfg.AccessLog, cfg.Logger = true, true, slog.New(slog.NewTextHandler(io.Discard, nil))
			}
			want, addr := sealedSite(t, cfg)
			conn := dial(t, addr, time.Minute)
			r := bufio.NewReader(conn)
			ask := func(method, extra string, status int, body []byte) {
				t.Helper()
				raw := method + " /pkg/big.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br\r\n" + extra + "\r\n"
				if _, err := io.WriteString(conn, raw); err != nil {
					t.Fatal(err)
				}
				resp, got, _ := readAnswer(t, r, method, raw)
				if resp.StatusCode != status || !bytes.Equal(got, body) || resp.ContentLength != int64(len(body)) && method != "HEAD" {
					t.Fatalf("%s %q: %d, %d bytes (Content-Length %d), want %d, %d bytes", method, extra, resp.StatusCode, len(got), resp.ContentLength, status, len(body))
				}
			}
			before := sealedSends.Load()
			ask("GET", "", http.StatusOK, want)
			ask("GET", "Range: bytes=1000-70000\r\n", http.StatusPartialContent, want[1000:70001])
			ask("HEAD", "", http.StatusOK, nil)
			if _, err := io.WriteString(conn, bigJS+bigJS); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, got, _ := readAnswer(t, r, "GET", bigJS); !bytes.Equal(got, want) {
					t.Fatalf("pipelined: %d bytes, want %d", len(got), len(want))
				}
			}
			if sent := sealedSends.Load() - before; sent != 4 {
				t.Errorf("%d of 4 bodies sent from the sealed copy", sent)
			}
		})
	}
}

// Sending from a sealed copy allocates nothing, as writing from memory
// does, on a connection whose every response is sent from one.
func TestLoopSendsSealedAndAllocatesNothing(t *testing.T) {
	skipUnderRace(t)
	_, addr := sealedSite(t, Config{})
	conn := dial(t, addr, time.Minute)
	r := bufio.NewReaderSize(conn, 64<<10)
	before := sealedSends.Load()
	if allocs := allocsPerRequest(t, conn, r, bigJS, 200); allocs != 0 {
		t.Errorf("%.1f allocations per request", allocs)
	}
	if sealedSends.Load()-before != 201 {
		t.Errorf("%d of 201 bodies sent from the sealed copy", sealedSends.Load()-before)
	}
}

// A sealed copy closed before its body goes out (its representation was
// released) sends nothing; the body goes from memory, head and all.
func TestSealedSendFallsBackToMemory(t *testing.T) {
	data := testText(100_000)
	for _, tc := range []struct {
		name       string
		closed     bool
		start, end int64
	}{
		{"open", false, 0, int64(len(data))},
		{"open, a range", false, 4321, 70_000},
		{"closed", true, 0, int64(len(data))},
		{"closed, a range", true, 4321, 70_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := sealedTestFile(t, data)
			raw, err := f.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			if tc.closed {
				f.Close()
			}
			hc, client := loopPair(t)
			w := &hc.w
			w.reset(false, false)
			w.Header()["Content-Length"] = []string{strconv.FormatInt(tc.end-tc.start, 10)}
			before := sealedSends.Load()
			if err := writeBody(w, &http.Request{Method: "GET", ProtoMajor: 1}, http.StatusOK, data, nil, raw, tc.start, tc.end); err != nil {
				t.Fatal(err)
			}
			w.finish()
			resp, body, _ := readAnswer(t, bufio.NewReader(client), "GET", tc.name)
			if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data[tc.start:tc.end]) {
				t.Fatalf("%d, %d bytes, want %d bytes", resp.StatusCode, len(body), tc.end-tc.start)
			}
			if sealed := sealedSends.Load() - before; sealed != map[bool]int64{false: 1, true: 0}[tc.closed] {
				t.Errorf("%d bodies sent from the sealed file", sealed)
			}
		})
	}
}

// sealedTestFile is what compress hands out: a sealed memfd of data.
func sealedTestFile(t *testing.T, data []byte) *os.File {
	t.Helper()
	fd, err := unix.MemfdCreate("test", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "test")
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_WRITE|unix.F_SEAL_GROW|unix.F_SEAL_SHRINK); err != nil {
		t.Fatal(err)
	}
	return f
}

// loopPair is a connection the loop could serve, with its client's end.
func loopPair(t *testing.T) (*h1Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client := dial(t, ln.Addr().String(), 10*time.Second)
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return newH1Conn(nil, &clientConn{TCPConn: c.(*net.TCPConn)}, "test"), client
}

// A client that stops reading is cut off at the write deadline when its
// body goes out from a sealed copy, as when it goes from memory: sendfile
// waits for room on the socket the way net.Conn's writes do.
func TestSealedSendStopsAtTheWriteDeadline(t *testing.T) {
	data := make([]byte, 16<<20) // more than loopback's socket buffers hold
	raw, err := sealedTestFile(t, data).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	hc, _ := loopPair(t) // whose client never reads
	w := &hc.w
	w.reset(false, false)
	w.Header()["Content-Length"] = []string{strconv.Itoa(len(data))}
	w.WriteHeader(http.StatusOK)
	if err := w.SetWriteDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var sent int64
	go func() {
		var err error
		sent, err = w.SendSealed(raw, 0, int64(len(data)))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) || sent >= int64(len(data)) {
			t.Fatalf("sent %d of %d bytes, %v; want the deadline's error", sent, len(data), err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still sending 10 s after a 200 ms deadline")
	}
}

// The head goes out with MSG_MORE, so that the kernel sends it with the
// body's first bytes: the client receives one data segment fewer than
// when the head is flushed on its own first.
func TestSealedSendSendsTheHeadWithTheBody(t *testing.T) {
	data := testText(100_000)
	segments := func(headApart bool) uint32 {
		raw, err := sealedTestFile(t, data).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		hc, client := loopPair(t)
		before := dataSegmentsIn(t, client)
		w := &hc.w
		w.reset(false, false)
		w.Header()["Content-Length"] = []string{strconv.Itoa(len(data))}
		w.WriteHeader(http.StatusOK)
		if headApart {
			w.Flush()
		}
		if _, err := w.SendSealed(raw, 0, int64(len(data))); err != nil {
			t.Fatal(err)
		}
		w.finish()
		if _, body, _ := readAnswer(t, bufio.NewReader(client), "GET", "sealed"); !bytes.Equal(body, data) {
			t.Fatalf("%d bytes, want %d", len(body), len(data))
		}
		return dataSegmentsIn(t, client) - before
	}
	with, apart := segments(false), segments(true)
	if with >= apart {
		t.Errorf("the response arrived in %d data segments, the head sent apart in %d: the head was not sent with the body", with, apart)
	}
}
