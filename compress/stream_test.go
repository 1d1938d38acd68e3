package compress

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/brisk-server/brisk/internal/testkit"
)

// After each Flush, everything written so far decodes from the output so
// far: the encoder writes the next piece only once the decoder, reading as
// a client would, has returned the last one whole. Close ends a stream the
// decoder accepts whole.
func TestStreamEncoderFlushesPieces(t *testing.T) {
	codings, err := NewStreamCodings("zstd,br,gzip")
	if err != nil {
		t.Fatal(err)
	}
	pieces := [][]byte{testPage(3000, 1), testPage(5000, 2), testPage(40_000, 3)}
	for _, c := range codings {
		t.Run(c.Name, func(t *testing.T) {
			for round := range 2 { // the second round reuses a pooled encoder
				pr, pw := io.Pipe()
				decoded := make(chan int)
				writerDone := make(chan error, 1)
				go func() {
					enc := c.NewEncoder(pw)
					for i, p := range pieces {
						if _, err := enc.Write(p); err != nil {
							writerDone <- err
							return
						}
						if err := enc.Flush(); err != nil {
							writerDone <- err
							return
						}
						select {
						case <-decoded:
						case <-time.After(10 * time.Second):
							pw.CloseWithError(errors.New("piece not decodable after Flush"))
							writerDone <- fmt.Errorf("round %d: piece %d not decoded after Flush", round, i)
							return
						}
					}
					err := enc.Close()
					if _, werr := enc.Write([]byte("x")); werr == nil {
						err = errors.New("a closed encoder accepted a write")
					}
					pw.Close()
					writerDone <- err
				}()
				dec := streamDecoder(t, c.Name, pr)
				for i, p := range pieces {
					got := make([]byte, len(p))
					if _, err := io.ReadFull(dec, got); err != nil {
						t.Fatalf("round %d, piece %d: %v (writer: %v)", round, i, err, <-writerDone)
					}
					if !bytes.Equal(got, p) {
						t.Fatalf("round %d, piece %d decodes to other bytes", round, i)
					}
					decoded <- i
				}
				if rest, err := io.ReadAll(dec); err != nil || len(rest) != 0 {
					t.Errorf("round %d: %d bytes after the last piece, %v", round, len(rest), err)
				}
				if err := <-writerDone; err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// streamDecoder decodes coding from r as it arrives, as a browser does.
func streamDecoder(t *testing.T, coding string, r io.Reader) io.Reader {
	t.Helper()
	switch coding {
	case "br":
		return brotli.NewReader(r)
	case "zstd":
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(MaxZstdWindow))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Close)
		return d
	case "gzip":
		d, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	t.Fatalf("no decoder for %s", coding)
	return nil
}

// An encoder abandoned midway (its client went away) goes back to the
// pool clean: the next stream from it decodes on its own.
func TestStreamEncoderAbandon(t *testing.T) {
	codings, _ := NewStreamCodings("br,zstd,gzip")
	for _, c := range codings {
		var dropped bytes.Buffer
		enc := c.NewEncoder(&dropped)
		_, _ = enc.Write(testPage(10_000, 4))
		enc.Abandon()
		enc.Abandon() // twice is harmless
		var out bytes.Buffer
		enc = c.NewEncoder(&out)
		page := testPage(10_000, 5)
		_, _ = enc.Write(page)
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(streamDecoder(t, c.Name, &out))
		if err != nil || !bytes.Equal(got, page) {
			t.Errorf("%s: stream after an abandoned one: %v", c.Name, err)
		}
	}
}

func TestNewStreamCodingsErrors(t *testing.T) {
	for _, bad := range []string{"br,br", "deflate", "zstd,lzma"} {
		if _, err := NewStreamCodings(bad); err == nil {
			t.Errorf("NewStreamCodings(%q) accepted", bad)
		}
	}
	cs, err := NewStreamCodings(" gzip, ZSTD ,")
	if err != nil || len(cs) != 2 || cs[0].Name != "gzip" || cs[1].Name != "zstd" {
		t.Errorf("NewStreamCodings: %v, %v", cs, err)
	}
}

// memoryPerStream is an upper bound of what one encoder holds once it has
// filled its window: the README's memory figures rest on it. The heap is
// measured in a process of its own (this test binary, run again), where no
// other test's goroutines allocate or free meanwhile.
func TestStreamMemory(t *testing.T) {
	if testkit.RaceEnabled {
		t.Skip("the race detector changes allocation sizes")
	}
	if os.Getenv("BRISK_MEASURE_STREAM_MEMORY") != "" {
		measureStreamMemory()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStreamMemory$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BRISK_MEASURE_STREAM_MEMORY=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("measuring process: %v\n%s", err, out)
	}
	codings, _ := NewStreamCodings("br,zstd,gzip")
	for _, c := range codings {
		m := regexp.MustCompile(`(?m)^` + c.Name + ` (\d+)$`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("no figure for %s in:\n%s", c.Name, out)
		}
		per, _ := strconv.Atoi(string(m[1]))
		t.Logf("%s: %d KiB per stream (memoryPerStream %d KiB)", c.Name, per>>10, c.memoryPerStream>>10)
		if per > c.memoryPerStream || per < c.memoryPerStream/2 {
			t.Errorf("%s: %d KiB per stream; memoryPerStream says %d KiB", c.Name, per>>10, c.memoryPerStream>>10)
		}
	}
}

// measureStreamMemory prints, per coding, the heap that each of eight new
// encoders holds after 1.6 MB (well past every window) went through it.
func measureStreamMemory() {
	codings, _ := NewStreamCodings("br,zstd,gzip")
	page := testPage(200_000, 6)
	for _, c := range codings {
		const n = 8
		encs := make([]flushWriter, n)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range encs {
			encs[i] = c.pool.New().(flushWriter) // not pooled ones: what each costs
			encs[i].Reset(io.Discard)
			for range 8 {
				_, _ = encs[i].Write(page)
				_ = encs[i].Flush()
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		fmt.Printf("%s %d\n", c.Name, int(after.HeapAlloc-before.HeapAlloc)/n)
		runtime.KeepAlive(encs)
	}
}

// testPage is n bytes of HTML-like text, different for each seed.
func testPage(n int, seed int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		b.WriteString("<li class=\"row-")
		b.WriteString(string(rune('a' + (i*seed)%26)))
		b.WriteString("\">item ")
		b.WriteString(string(rune('0' + (i*7+seed)%10)))
		b.WriteString(" of a streamed list</li>\n")
	}
	return b.Bytes()[:n]
}
