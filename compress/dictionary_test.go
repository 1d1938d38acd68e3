package compress

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/brisk-server/brisk/internal/testkit"
)

func TestDeltaWindowLimit(t *testing.T) {
	const MiB = 1 << 20
	for _, c := range []struct{ dict, want int64 }{
		{0, 8 * MiB},
		{133_056, 8 * MiB},         // the RFC's 8 MB floor
		{8 * MiB, 8 * MiB},         // RFC 10 MiB, Chromium 2^23
		{9 * MiB, 9*MiB + 9*MiB/4}, // RFC 1.25×, Chromium 16 MiB
		{10_925_888, 13_657_360},   // ruff: 1.25×
		{14 * MiB, 16 * MiB},       // RFC 17.5 MiB, Chromium 16 MiB
		{200 * MiB, 128 * MiB},     // the RFC's cap
	} {
		if got := DeltaWindowLimit(c.dict); got != c.want {
			t.Errorf("DeltaWindowLimit(%d) = %d, want %d", c.dict, got, c.want)
		}
	}
}

// edited returns v with a few changes, as a rebuild after a small code
// change makes them: bytes changed here and there, some inserted.
func edited(v []byte, seed uint64) []byte {
	out := bytes.Clone(v)
	r := randomBytes(64, seed)
	for i := 0; i < len(r); i += 2 {
		p := int(r[i]) * len(out) / 256
		out[p] ^= r[i+1] | 1
	}
	return append(append(bytes.Clone(out[:len(out)/2]), textLike(500, seed)...), out[len(out)/2:]...)
}

func TestDeltaRoundTrip(t *testing.T) {
	v1 := textLike(300_000, 1)
	v2 := edited(v1, 2)
	enc, err := EncodeDelta(context.Background(), DeltaZstd, v1, v2)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(v1)
	if !bytes.Equal(enc[:8], dczMagic) || !bytes.Equal(enc[8:40], sum[:]) {
		t.Fatalf("dcz header % x, want magic and the dictionary's SHA-256", enc[:40])
	}
	var h zstd.Header
	if err := h.Decode(enc[40:]); err != nil {
		t.Fatal(err)
	}
	if h.DictionaryID != 0 || !h.SingleSegment || h.FrameContentSize != uint64(len(v2)) {
		t.Errorf("frame: dictionary ID %d, single segment %v, content size %d; want 0, true, %d",
			h.DictionaryID, h.SingleSegment, h.FrameContentSize, len(v2))
	}
	got, err := DecodeDelta(DeltaZstd, enc, v1, int64(len(v2)))
	if err != nil || !bytes.Equal(got, v2) {
		t.Fatalf("DecodeDelta: %v, equal %v", err, bytes.Equal(got, v2))
	}
	plain, _ := zstdCoding(Best).Encode(context.Background(), v2)
	t.Logf("%d bytes: zstd %d, dcz %d", len(v2), len(plain), len(enc))
	if len(enc) > len(plain)/10 {
		t.Errorf("delta of a small edit is %d bytes, zstd alone %d: the dictionary was not used", len(enc), len(plain))
	}

	// What a browser would refuse, DecodeDelta refuses: never other bytes.
	other := bytes.Clone(v1)
	other[0] ^= 1
	withID, _ := encodeWithDictID(v1, v2)
	for name, c := range map[string]struct {
		enc, dict []byte
		limit     int64
	}{
		"another dictionary":   {enc, other, int64(len(v2))},
		"truncated":            {enc[:len(enc)-10], v1, int64(len(v2))},
		"header only":          {enc[:40], v1, int64(len(v2))},
		"no header":            {enc[40:], v1, int64(len(v2))},
		"over the limit":       {enc, v1, int64(len(v2)) - 1},
		"dictionary ID not 0":  {withID, v1, int64(len(v2))},
		"empty":                {nil, v1, 100},
		"damaged frame header": {append(bytes.Clone(enc[:40]), 0xff, 0xff, 0xff, 0xff), v1, 100},
	} {
		if got, err := DecodeDelta(DeltaZstd, c.enc, c.dict, c.limit); err == nil {
			t.Errorf("%s: decoded %d bytes, want an error", name, len(got))
		}
	}
}

func TestDcbRoundTrip(t *testing.T) {
	v1 := textLike(300_000, 1)
	v2 := edited(v1, 2)
	enc, err := EncodeDelta(context.Background(), DeltaBrotli, v1, v2)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(v1)
	if !bytes.Equal(enc[:4], []byte{0xff, 'D', 'C', 'B'}) || !bytes.Equal(enc[4:36], sum[:]) {
		t.Fatalf("dcb header % x, want FF 44 43 42 and the dictionary's SHA-256", enc[:36])
	}
	got, err := DecodeDelta(DeltaBrotli, enc, v1, int64(len(v2)))
	if err != nil || !bytes.Equal(got, v2) {
		t.Fatalf("DecodeDelta: %v, equal %v", err, bytes.Equal(got, v2))
	}
	dcz, _ := EncodeDelta(context.Background(), DeltaZstd, v1, v2)
	t.Logf("%d bytes: dcb %d, dcz %d", len(v2), len(enc), len(dcz))
	if len(enc) > 2*len(dcz) {
		t.Errorf("dcb %d bytes, dcz %d: the dictionary was not used", len(enc), len(dcz))
	}
	other := bytes.Clone(v1)
	other[0] ^= 1
	for name, c := range map[string]struct{ enc, dict []byte }{
		"another dictionary": {enc, other},
		"truncated":          {enc[:len(enc)-10], v1},
		"no header":          {enc[36:], v1},
		"dcz":                {dcz, v1},
	} {
		if got, err := DecodeDelta(DeltaBrotli, c.enc, c.dict, int64(len(v2))); err == nil {
			t.Errorf("%s: decoded %d bytes without an error", name, len(got))
		}
	}
	if _, err := DecodeDelta("br", enc, v1, 100); err == nil {
		t.Error("an unknown delta coding decoded")
	}
}

// encodeWithDictID is a dcz body whose frame names dictionary 1, which
// Chromium rejects.
func encodeWithDictID(dict, src []byte) ([]byte, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderDictRaw(1, dict))
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	sum := sha256.Sum256(dict)
	return enc.EncodeAll(src, append(bytes.Clone(dczMagic), sum[:]...)), nil
}

func TestDeltaOverWindowIsRefused(t *testing.T) {
	dict := textLike(4096, 1)
	src := make([]byte, DeltaWindowLimit(int64(len(dict)))+1)
	if _, err := EncodeDelta(context.Background(), DeltaZstd, dict, src); !errors.Is(err, ErrWindowTooLarge) {
		t.Fatalf("EncodeDelta of %d bytes: %v, want ErrWindowTooLarge", len(src), err)
	}
}

// The reference decoder agrees: zstd -d --patch-from=OLD, which skips the
// skippable frame that holds the dictionary's digest.
func TestDeltaDecodesWithZstdCLI(t *testing.T) {
	zstdCLI := testkit.RequireTool(t, "zstd")
	v1 := textLike(200_000, 3)
	v2 := edited(v1, 4)
	enc, err := EncodeDelta(context.Background(), DeltaZstd, v1, v2)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	old := filepath.Join(dir, "old")
	if err := os.WriteFile(old, v1, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(zstdCLI, "-d", "-q", "-c", "--patch-from="+old)
	cmd.Stdin = bytes.NewReader(enc)
	got, err := cmd.Output()
	if err != nil || !bytes.Equal(got, v2) {
		t.Fatalf("zstd --patch-from: %v, equal %v", err, bytes.Equal(got, v2))
	}
}

// A delta always decodes, with its dictionary, to the exact new bytes.
func FuzzDelta(f *testing.F) {
	f.Add([]byte("the old version of the file"), []byte("the new version of the file"))
	f.Add([]byte{}, []byte("no dictionary at all"))
	f.Add(textLike(5000, 1), edited(textLike(5000, 1), 2))
	f.Add(randomBytes(3000, 5), []byte{})
	f.Fuzz(func(t *testing.T, dict, src []byte) {
		for _, coding := range []string{DeltaZstd, DeltaBrotli} {
			enc, err := EncodeDelta(context.Background(), coding, dict, src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeDelta(coding, enc, dict, int64(len(src)))
			if err != nil || !bytes.Equal(got, src) {
				t.Fatalf("%s round trip of %d bytes against %d: %v", coding, len(src), len(dict), err)
			}
		}
	})
}
