package server

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-server/brisk/compress"
)

// swapSite is a root whose page.txt is a symlink to inside.txt, and a
// file outside it with the same size and modification time, so that
// once page.txt points there, only the file API (os.Root) can tell.
type swapSite struct {
	root, link, inside, outside string
	insideData, outsideData     []byte
}

func newSwapSite(t *testing.T) *swapSite {
	base := t.TempDir()
	s := &swapSite{
		root:        filepath.Join(base, "root"),
		insideData:  bytes.Repeat([]byte("inside "), 2000),
		outsideData: bytes.Repeat([]byte("SECRET "), 2000),
	}
	s.link, s.inside, s.outside = filepath.Join(s.root, "page.txt"), filepath.Join(s.root, "inside.txt"), filepath.Join(base, "outside.txt")
	if err := os.Mkdir(s.root, 0o755); err != nil {
		t.Fatal(err)
	}
	mod := time.Now().Add(-time.Hour)
	for p, data := range map[string][]byte{s.inside: s.insideData, s.outside: s.outsideData} {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	s.point(t, "inside.txt")
	return s
}

// point swaps page.txt to target in one rename, as an attacker with
// write access to the root would.
func (s *swapSite) point(t testing.TB, target string) {
	tmp := s.link + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, s.link); err != nil {
		t.Fatal(err)
	}
}

// Files are opened through os.Root at every request, so a symlink swapped
// to lead outside the root between the scan and the open is refused. The
// control: the same swap on a store over os.DirFS leaks the outside file.
func TestSymlinkSwapNeverLeaves(t *testing.T) {
	s := newSwapSite(t)
	// A budget of one byte keeps every file on disk: each request opens it.
	store, err := compress.OpenDir(s.root, compress.Config{MemoryBudget: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	control, err := compress.Open(os.DirFS(s.root), compress.Config{MemoryBudget: 1})
	if err != nil {
		t.Fatal(err)
	}
	srv, leaky := New(Config{Source: store}), New(Config{Source: control})
	if b := body(t, do(t, srv, "GET", "/page.txt")); !bytes.Equal(b, s.insideData) {
		t.Fatalf("before the swap: %.20q", b)
	}
	s.point(t, s.outside)
	if b := body(t, do(t, leaky, "GET", "/page.txt")); !bytes.Equal(b, s.outsideData) {
		t.Fatalf("control: os.DirFS did not follow the swapped link (%.20q); the test proves nothing", b)
	}
	if resp := do(t, srv, "GET", "/page.txt"); resp.StatusCode != 503 || bytes.Contains(body(t, resp), []byte("SECRET")) {
		t.Fatalf("after the swap: %d", resp.StatusCode)
	}

	// Now race swaps, rescans and requests over loopback.
	addr := startServer(t, store)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var swaps, rescans atomic.Int64
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				s.point(t, s.outside)
			} else {
				s.point(t, "inside.txt")
			}
			swaps.Add(1)
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				store.Rescan()
				rescans.Add(1)
			}
		}
	})
	statuses := map[int]int{}
	var mu sync.Mutex
	deadline := time.Now().Add(time.Second)
	var clients sync.WaitGroup
	for range 4 {
		clients.Go(func() {
			for time.Now().Before(deadline) {
				status, b := rawGet(t, addr, "/page.txt")
				if strings.Contains(b, "SECRET") {
					t.Error("served bytes of the file outside the root")
					return
				}
				if status == 200 && b != string(s.insideData) {
					t.Errorf("200 with %d bytes that are not the inside file", len(b))
				}
				mu.Lock()
				statuses[status]++
				mu.Unlock()
			}
		})
	}
	clients.Wait()
	close(stop)
	wg.Wait()
	t.Logf("%d symlink swaps, %d rescans; responses by status: %v", swaps.Load(), rescans.Load(), statuses)
	for status := range statuses {
		if status != 200 && status != 404 && status != 503 {
			t.Errorf("%d responses with status %d", statuses[status], status)
		}
	}
	if statuses[200] == 0 {
		t.Error("no request was served while the link pointed inside")
	}
}
