package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/sys/unix"

	"github.com/brisk-server/brisk/compress"
)

// A response from memory leaves the server in one write: on loopback,
// whose segments hold 64 KiB, the client then receives it in one data
// segment, where a head written apart from its body arrives in two.
// Linux counts the data segments a socket received (tcpi_data_segs_in).
func TestResponseFromMemoryIsOneSegment(t *testing.T) {
	files := fstest.MapFS{}
	sizes := []int{5 << 10, 16 << 10, 48 << 10}
	for _, n := range sizes {
		files[fmt.Sprintf("f%d.bin", n)] = &fstest.MapFile{Data: randomish(n)}
	}
	store, err := compress.Open(files, compress.Config{})
	if err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, store)
	// Both ways a response leaves: brisk's loop, and net/http, which gets
	// the connection of a request that announces a body.
	for _, way := range []struct{ name, field string }{{"loop", ""}, {"net/http", "Content-Length: 0\r\n"}} {
		t.Run(way.name, func(t *testing.T) {
			conn := dial(t, addr, time.Minute)
			br := bufio.NewReader(conn)
			for _, n := range sizes {
				name := fmt.Sprintf("f%d.bin", n)
				// Ask twice: the first answer may still come from before the
				// file was in memory.
				for range 2 {
					before := dataSegmentsIn(t, conn)
					fmt.Fprintf(conn, "GET /%s HTTP/1.1\r\nHost: x\r\n%s\r\n", name, way.field)
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						t.Fatal(err)
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil || len(body) != n {
						t.Fatalf("%s: %d bytes, %v", name, len(body), err)
					}
					if got := dataSegmentsIn(t, conn) - before; got != 1 {
						t.Errorf("%s (%d-byte body): the response arrived in %d data segments, want 1", name, n, got)
					}
				}
			}
		})
	}
}

// dataSegmentsIn is how many data segments conn, a TCP connection, has
// received (tcpi_data_segs_in).
func dataSegmentsIn(t *testing.T, conn net.Conn) uint32 {
	t.Helper()
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	var serr error
	if err := raw.Control(func(fd uintptr) { info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil || serr != nil {
		t.Fatalf("TCP_INFO: %v %v", err, serr)
	}
	return info.Data_segs_in
}
