package server

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brisk-server/brisk/compress"
)

// versionBytes is the content of one version of one file: compressible,
// a few tens of KB, and different for every version.
func versionBytes(name string, v int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "/* %s version %d */\n", name, v)
	r := rand.New(rand.NewPCG(uint64(v), uint64(len(name))))
	for b.Len() < 20_000+r.IntN(40_000) {
		fmt.Fprintf(&b, "export const v%d_%d = %q;\n", v, r.IntN(1000), strings.Repeat("wasm", r.IntN(8)))
	}
	return []byte(b.String())
}

// versions remembers every complete version written to each path.
type versions struct {
	mu     sync.Mutex
	hashes map[string]map[[32]byte]bool
}

func (vs *versions) add(name string, data []byte) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if vs.hashes[name] == nil {
		vs.hashes[name] = map[[32]byte]bool{}
	}
	vs.hashes[name][sha256.Sum256(data)] = true
}

func (vs *versions) has(name string, data []byte) bool {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return vs.hashes[name][sha256.Sum256(data)]
}

// TestChurnServesOnlyCompleteVersions rewrites files continuously, in every
// way build tools do (truncate and write in place, write a temp file and
// rename it, swap a whole directory, delete and recreate), while clients
// asking for br, zstd and identity fetch them. Every body must decode to a
// complete version that was written, every ETag must always name the same
// bytes, and nothing may fail but a 404 for a path that was really gone.
// Then the newest version must be served within 2 s of the last write, and
// compressed within 10 s.
func TestChurnServesOnlyCompleteVersions(t *testing.T) {
	const churn = 3 * time.Second
	dir := t.TempDir()
	written := &versions{hashes: map[string]map[[32]byte]bool{}}
	write := func(name string, v int) []byte {
		data := versionBytes(name, v)
		written.add(name, data)
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Error(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Error(err)
		}
		return data
	}
	for _, name := range []string{"inplace.js", "renamed.wasm", "sub/swapped.css", "deleted.txt"} {
		write(name, 0)
	}

	codings, err := compress.NewCodings("br,zstd,gzip", compress.Fast)
	if err != nil {
		t.Fatal(err)
	}
	store, err := compress.OpenDir(dir, compress.Config{Codings: codings})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go store.Precompress(ctx)
	go func() {
		if err := store.Watch(ctx); err != nil {
			t.Error(err)
		}
	}()
	base := "http://" + startServer(t, store)

	stop := time.Now().Add(churn)
	var writers sync.WaitGroup
	pause := func() { time.Sleep(time.Duration(5+rand.IntN(115)) * time.Millisecond) }
	writers.Go(func() { // truncate and write in place, in pieces
		for v := 1; time.Now().Before(stop); v++ {
			data := versionBytes("inplace.js", v)
			written.add("inplace.js", data)
			f, err := os.OpenFile(filepath.Join(dir, "inplace.js"), os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				t.Error(err)
				return
			}
			for i := 0; i < len(data); i += 8 << 10 {
				f.Write(data[i:min(i+8<<10, len(data))])
				time.Sleep(time.Millisecond)
			}
			f.Close()
			pause()
		}
	})
	writers.Go(func() { // write a temporary file, rename it over the old one
		for v := 1; time.Now().Before(stop); v++ {
			data := versionBytes("renamed.wasm", v)
			written.add("renamed.wasm", data)
			tmp := filepath.Join(dir, ".renamed.wasm.tmp")
			if err := os.WriteFile(tmp, data, 0o644); err != nil {
				t.Error(err)
				return
			}
			if err := os.Rename(tmp, filepath.Join(dir, "renamed.wasm")); err != nil {
				t.Error(err)
			}
			pause()
		}
	})
	writers.Go(func() { // build a new directory, swap it in
		for v := 1; time.Now().Before(stop); v++ {
			data := versionBytes("sub/swapped.css", v)
			written.add("sub/swapped.css", data)
			staging := filepath.Join(dir, ".sub.new")
			if err := os.MkdirAll(staging, 0o755); err != nil {
				t.Error(err)
				return
			}
			if err := os.WriteFile(filepath.Join(staging, "swapped.css"), data, 0o644); err != nil {
				t.Error(err)
			}
			old := filepath.Join(dir, ".sub.old")
			os.Rename(filepath.Join(dir, "sub"), old)
			os.Rename(staging, filepath.Join(dir, "sub"))
			os.RemoveAll(old)
			pause()
		}
	})
	writers.Go(func() { // delete, then create again
		for v := 1; time.Now().Before(stop); v++ {
			os.Remove(filepath.Join(dir, "deleted.txt"))
			pause()
			write("deleted.txt", v)
			pause()
		}
	})

	var (
		mu       sync.Mutex
		etags    = map[string][32]byte{}
		requests = map[string]int{}
		clients  sync.WaitGroup
	)
	mayVanish := map[string]bool{"sub/swapped.css": true, "deleted.txt": true}
	names := []string{"inplace.js", "renamed.wasm", "sub/swapped.css", "deleted.txt"}
	decoders := map[string]*compress.Coding{}
	for _, c := range codings {
		decoders[c.Name] = c
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	for i := range 6 {
		clients.Go(func() {
			for n := 0; time.Now().Before(stop); n++ {
				name := names[(i+n)%len(names)]
				enc := []string{"br", "zstd", ""}[n%3]
				req, _ := http.NewRequest("GET", base+"/"+name, nil)
				if enc != "" {
					req.Header.Set("Accept-Encoding", enc)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Errorf("GET %s: %v", name, err)
					return
				}
				raw, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Errorf("GET %s: body: %v", name, err)
					return
				}
				if resp.StatusCode == http.StatusNotFound && mayVanish[name] {
					continue
				}
				if resp.StatusCode != 200 || resp.ContentLength != int64(len(raw)) {
					t.Errorf("GET %s: status %d, Content-Length %d for %d bytes", name, resp.StatusCode, resp.ContentLength, len(raw))
					continue
				}
				got := resp.Header.Get("Content-Encoding")
				plain := raw
				if got != "" {
					if got != enc {
						t.Errorf("GET %s asking for %q: got %q", name, enc, got)
						continue
					}
					if plain, err = decoders[got].Decode(raw, 1<<20); err != nil {
						t.Errorf("GET %s (%s): does not decode: %v", name, got, err)
						continue
					}
				}
				if !written.has(name, plain) {
					t.Errorf("GET %s (%q): a torn body, %d bytes, that no writer wrote whole", name, got, len(plain))
				}
				etag := resp.Header.Get("Etag")
				mu.Lock()
				requests[got]++
				if prev, ok := etags[etag]; ok && prev != sha256.Sum256(raw) {
					t.Errorf("GET %s: ETag %s named other bytes before", name, etag)
				}
				etags[etag] = sha256.Sum256(raw)
				mu.Unlock()
			}
		})
	}
	writers.Wait()
	clients.Wait()
	t.Logf("requests by Content-Encoding: %v; %d distinct ETags", requests, len(etags))
	if requests["br"] == 0 || requests["zstd"] == 0 || requests[""] == 0 {
		t.Errorf("some encoding was never served: %v", requests)
	}

	// The newest version: identity within 2 s of the last write, every
	// encoding within 10 s.
	final := write("renamed.wasm", 1_000_000)
	lastWrite := time.Now()
	for _, want := range []struct {
		enc    string
		within time.Duration
	}{{"", 2 * time.Second}, {"gzip", 10 * time.Second}, {"zstd", 10 * time.Second}, {"br", 10 * time.Second}} {
		for {
			req, _ := http.NewRequest("GET", base+"/renamed.wasm", nil)
			if want.enc != "" {
				req.Header.Set("Accept-Encoding", want.enc)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.Header.Get("Content-Encoding") == want.enc {
				plain := raw
				if want.enc != "" {
					plain, _ = decoders[want.enc].Decode(raw, 1<<20)
				}
				if string(plain) == string(final) {
					t.Logf("newest version served as %q %s after the last write", want.enc, time.Since(lastWrite).Round(time.Millisecond))
					break
				}
			}
			if time.Since(lastWrite) > want.within {
				t.Fatalf("newest version not served as %q within %s of the last write", want.enc, want.within)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
