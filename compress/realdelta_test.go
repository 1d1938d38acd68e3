package compress

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/brisk-server/brisk/internal/testkit"
)

// releasePairs are consecutive releases of real wasm-bindgen packages
// from npm, as .ci/fetch-real-wasm lays them out under
// $BRISK_REAL_WASM_DIR: old → new.
var releasePairs = []struct{ name, old, new string }{
	{"message_parser_wasm 0.11.0 → 0.13.0", "pairs/deltachat-message_parser_wasm@0.11.0/message_parser_wasm_bg.wasm",
		"deltachat-message_parser_wasm/message_parser_wasm_bg.wasm"},
	{"sql_fmt 0.1.0 → 0.2.2", "pairs/wasm-fmt-sql_fmt@0.1.0/sql_fmt_bg.wasm", "wasm-fmt-sql_fmt/sql_fmt_bg.wasm"},
	{"automerge-wasm 0.15.0 → 0.16.0", "pairs/automerge-automerge-wasm@0.15.0/automerge_wasm_bg.wasm",
		"pairs/automerge-automerge-wasm@0.16.0/automerge_wasm_bg.wasm"},
	{"automerge-wasm 0.16.0 → 0.17.0", "pairs/automerge-automerge-wasm@0.16.0/automerge_wasm_bg.wasm",
		"automerge-automerge-wasm/automerge_wasm_bg.wasm"},
}

// maxCLIRatio is how much larger than `zstd -19 --patch-from=OLD` brisk's
// dcz delta may be on every pair.
const maxCLIRatio = 1.25

// TestRealReleaseDeltas makes brisk's dcz and dcb deltas for each release
// pair and checks that they decode to the new release (dcz also with
// `zstd -d --patch-from`; the brotli CLI here cannot take a dictionary),
// and that dcz is within maxCLIRatio of the zstd CLI's own delta at -19.
// It logs, per pair, what a returning visitor downloads: brotli 11 of the
// whole file against the deltas, and how long each delta took to encode
// (reported, not asserted).
func TestRealReleaseDeltas(t *testing.T) {
	dir := os.Getenv("BRISK_REAL_WASM_DIR")
	switch {
	case dir == "" && os.Getenv("CI") != "":
		t.Fatal("BRISK_REAL_WASM_DIR must be set in CI (.ci/run fetches the packages)")
	case dir == "":
		t.Skip("BRISK_REAL_WASM_DIR not set; run .ci/fetch-real-wasm DIR and set it")
	case testkit.RaceEnabled:
		t.Skip("brotli 11 on megabytes is too slow under -race; .ci/run runs this test without it")
	}
	zstdCLI := testkit.RequireTool(t, "zstd")
	br := brotliCoding(Best)

	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "pair\told → new bytes\tbr full\tdcz\tdcz s\tdcb\tdcb s\tzstd -19 --patch-from\tdcz / CLI\tdcb / CLI\tdcb / dcz\t")
	for _, p := range releasePairs {
		oldPath, newPath := filepath.Join(dir, p.old), filepath.Join(dir, p.new)
		old, err1 := os.ReadFile(oldPath)
		src, err2 := os.ReadFile(newPath)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v %v (run .ci/fetch-real-wasm)", p.name, err1, err2)
		}
		encoded, elapsed := map[string][]byte{}, map[string]time.Duration{}
		for _, coding := range []string{DeltaZstd, DeltaBrotli} {
			start := time.Now()
			enc, err := EncodeDelta(context.Background(), coding, old, src)
			elapsed[coding] = time.Since(start)
			if err != nil {
				t.Fatalf("%s %s: %v", p.name, coding, err)
			}
			if got, err := DecodeDelta(coding, enc, old, int64(len(src))); err != nil || !bytes.Equal(got, src) {
				t.Errorf("%s: %s delta does not decode to the new release: %v", p.name, coding, err)
			}
			encoded[coding] = enc
		}
		dcz, dcb := encoded[DeltaZstd], encoded[DeltaBrotli]
		decoded := testkit.Run(t, dcz, zstdCLI, "-d", "-q", "-c", "--patch-from="+oldPath)
		if !bytes.Equal(decoded, src) {
			t.Errorf("%s: zstd --patch-from decodes the delta to other bytes", p.name)
		}
		cli := testkit.Run(t, nil, zstdCLI, "-19", "-q", "-c", "--patch-from="+oldPath, newPath)
		full, err := br.Encode(context.Background(), src)
		if err != nil {
			t.Fatal(err)
		}
		ratio := float64(len(dcz)) / float64(len(cli))
		fmt.Fprintf(tw, "%s\t%d → %d\t%d\t%d\t%.2f\t%d\t%.2f\t%d\t%.2f×\t%.2f×\t%.2f×\t\n", p.name, len(old), len(src),
			len(full), len(dcz), elapsed[DeltaZstd].Seconds(), len(dcb), elapsed[DeltaBrotli].Seconds(), len(cli),
			ratio, float64(len(dcb))/float64(len(cli)), float64(len(dcb))/float64(len(dcz)))
		if ratio > maxCLIRatio {
			t.Errorf("%s: dcz delta %d bytes is %.2f× the zstd CLI's %d; want at most %.2f×", p.name, len(dcz), ratio, len(cli), maxCLIRatio)
		}
	}
	tw.Flush()
	t.Logf("bytes a returning visitor downloads for the new wasm (dcz and dcb include their 40- and 36-byte headers):\n%s", table.String())
}
