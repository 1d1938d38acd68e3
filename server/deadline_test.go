// Setting SO_RCVBUF through a raw descriptor is Unix only.

//go:build !windows

package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/brisk-server/brisk/compress"
)

// A client that reads slower than brisk allows is cut off at its
// response's write deadline: it cannot hold a connection, and the
// response in it, forever.
func TestSlowReaderCutAtWriteDeadline(t *testing.T) {
	defer func(base time.Duration, rate int64) { writeBase, slowestClient = base, rate }(writeBase, slowestClient)
	writeBase, slowestClient = 500*time.Millisecond, 1<<40 // the deadline: 500 ms whatever the size
	big := make([]byte, 16<<20)                            // far more than socket buffers hold
	store, err := compress.Open(fstest.MapFS{"big.wasm": {Data: big}}, compress.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Source: store})
	closed := make(chan time.Time, 1)
	track := srv.connState
	srv.connState = func(c net.Conn, st http.ConnState) {
		track(c, st)
		if st == http.StateClosed {
			select {
			case closed <- time.Now():
			default:
			}
		}
	}
	addr := strings.TrimPrefix(newLoopbackServer(t, srv), "http://")
	dialer := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := dialer.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprint(conn, "GET /big.wasm HTTP/1.1\r\nHost: x\r\n\r\n")
	var got atomic.Int64
	go func() { // about 100 KB/s, until the test closes the connection
		buf := make([]byte, 1024)
		for {
			n, err := conn.Read(buf)
			got.Add(int64(n))
			if err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	select {
	case at := <-closed:
		took := at.Sub(start)
		if took < writeBase || took > writeBase+5*time.Second {
			t.Errorf("brisk closed the connection after %s, want soon after the %s deadline", took, writeBase)
		}
		if n := got.Load(); n >= int64(len(big)) {
			t.Fatalf("the client read all %d bytes: the test proves nothing", n)
		}
		t.Logf("brisk closed the slow reader's connection after %s; it had read %d of %d bytes", took.Round(time.Millisecond), got.Load(), len(big))
	case <-time.After(30 * time.Second):
		t.Fatal("the slow reader's connection is still open after 30 s")
	}
}

// A write deadline the loop set for a file cuts short no other response:
// neither one that sets none, after it has passed, nor one of a request
// handed to net/http on the same connection, here a POST that the
// upstream answers after it.
func TestLoopDeadlinesStayWithTheirResponse(t *testing.T) {
	defer func(base time.Duration) { writeBase = base }(writeBase)
	writeBase = 100 * time.Millisecond
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(4 * writeBase)
		io.WriteString(w, "slow answer")
	}))
	defer up.Close()
	_, base := proxyServer(t, up.URL)
	conn := dial(t, strings.TrimPrefix(base, "http://"), 10*time.Second)
	r := bufio.NewReader(conn)
	get := "GET /pkg/app.js HTTP/1.1\r\nHost: x\r\n\r\n"
	fmt.Fprint(conn, get)
	if resp, _, _ := readAnswer(t, r, "GET", get); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
	time.Sleep(2 * writeBase)
	head := "HEAD /pkg/app.js HTTP/1.1\r\nHost: x\r\n\r\n" // answered by the loop, with no deadline of its own
	fmt.Fprint(conn, head)
	if resp, _, _ := readAnswer(t, r, "HEAD", head); resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD after the deadline: %d", resp.StatusCode)
	}
	post := "POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
	fmt.Fprint(conn, post)
	if resp, body, _ := readAnswer(t, r, "POST", post); resp.StatusCode != http.StatusOK || string(body) != "slow answer" {
		t.Fatalf("POST after the deadline: %d %q", resp.StatusCode, body)
	}
}
