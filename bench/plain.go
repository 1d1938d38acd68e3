//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// plainProbe measures the cost of a response without compression in the
// way: incompressible files from 1 KiB up, served identity, by every
// server and by nginx-min, nginx without brotli_static or gzip_static
// (which look for a sidecar on every request, a cost the main table's
// nginx pays and a plain file server does not). Mid-size bodies are
// where a response's head and body may leave in separate writes.
type plainProbe struct {
	targets  []target
	files    map[string][]byte // path → bytes, for the check
	nginxMin *peer             // nil when nginx is not here
	why      string            // why nginxMin is nil
}

func plainPath(kib int) string { return fmt.Sprintf("plain/%dk.bin", kib) }

// newPlainProbe writes the files under the site's root, where no
// precompression ran: random bytes, which no coding shrinks and no
// server compresses.
func newPlainProbe(ctx context.Context, s *site, sizesKiB []int) (*plainProbe, error) {
	pp := &plainProbe{files: map[string][]byte{}}
	r := rand.New(rand.NewPCG(5, 6))
	for _, kib := range sizesKiB {
		path := plainPath(kib)
		data := make([]byte, kib<<10)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		full := filepath.Join(s.root, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			return nil, err
		}
		s.rawSize[path] = len(data)
		pp.files[path] = data
		pp.targets = append(pp.targets, target{fmt.Sprintf("%d KiB", kib), path})
	}
	pp.nginxMin, pp.why = nginxPeer(ctx, s, "auto", false)
	if pp.nginxMin != nil {
		pp.nginxMin.runs = map[string][]wrkResult{}
	}
	return pp, nil
}

// run starts nginx-min beside the running servers, checks that each
// answers the files whole and identity, and loads them all, interleaved.
func (pp *plainProbe) run(ctx context.Context, b *bench, running []*peer, runDir string) {
	peers := running
	if pp.nginxMin != nil {
		if err := b.launch(ctx, pp.nginxMin, filepath.Join(runDir, pp.nginxMin.name)); err != nil {
			pp.why = fmt.Sprintf("did not start: %v", err)
			pp.nginxMin = nil
		} else {
			logf("%s listening on 127.0.0.1:%d (pid %d)", pp.nginxMin.name, pp.nginxMin.port, pp.nginxMin.proc.pid)
			defer pp.nginxMin.proc.stop()
			peers = append(peers[:len(peers):len(peers)], pp.nginxMin)
		}
	}
	client := plainClient()
	defer client.CloseIdleConnections()
	for _, p := range peers {
		for _, t := range pp.targets {
			if err := pp.check(ctx, client, fmt.Sprintf("http://127.0.0.1:%d/%s", p.port, t.file), pp.files[t.file]); err != nil {
				p.note("%s: %v", t.file, err)
			}
		}
	}
	b.load(ctx, peers, pp.targets)
}

// check asks for url as wrk will, with br accepted, and wants the file
// back whole and unencoded.
func (pp *plainProbe) check(ctx context.Context, client *http.Client, url string, want []byte) error {
	resp, body, err := fetch(ctx, client, url, "br")
	switch {
	case err != nil:
		return err
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("status %d", resp.StatusCode)
	case resp.Header.Get("Content-Encoding") != "":
		return fmt.Errorf("Content-Encoding %q for an incompressible file", resp.Header.Get("Content-Encoding"))
	case !bytes.Equal(body, want):
		return fmt.Errorf("%d bytes, not the file's %d", len(body), len(want))
	}
	return nil
}

// report prints a row per size: each server's median rate and its ratio
// to nginx-min's.
func (pp *plainProbe) report(w io.Writer, b *bench) {
	peers := b.peers
	baseline := "not measured: " + pp.why
	if pp.nginxMin != nil {
		peers = append(peers[:len(peers):len(peers)], pp.nginxMin)
		baseline = pp.nginxMin.config
	}
	fmt.Fprintf(w, "\nPlain files (random bytes, served identity; `wrk -t2 -c64 -d%s`, %d rounds, median), req/s and ratio to nginx-min (%s):\n\n",
		wrkSeconds(b.duration), b.rounds, baseline)
	head, rule := []string{"body"}, []string{"---"}
	for _, p := range peers {
		head = append(head, p.name)
		rule = append(rule, "---:")
	}
	fmt.Fprintf(w, "| %s |\n|%s|\n", strings.Join(head, " | "), strings.Join(rule, "|"))
	for _, t := range pp.targets {
		var base wrkResult
		okBase := false
		if pp.nginxMin != nil {
			base, okBase = medianRun(pp.nginxMin.runs[t.name])
		}
		cells := []string{t.name}
		for _, p := range peers {
			r, ok := medianRun(p.runs[t.name])
			cell := num(r.reqPerSec, 0, ok)
			if ok && okBase && p != pp.nginxMin {
				cell += " (" + ratio(r.reqPerSec, base.reqPerSec, true) + ")"
			}
			cells = append(cells, cell)
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	// The other servers' notes are in the main table's last column.
	if pp.nginxMin != nil {
		for _, n := range pp.nginxMin.notes {
			fmt.Fprintf(w, "- %s: %s\n", pp.nginxMin.name, n)
		}
	}
}
