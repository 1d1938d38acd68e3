package compress

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// ManifestName is where `brisk precompress` records what its sidecars
// encode. It is a dotfile, so it is never served.
const ManifestName = ".brisk-manifest"

// manifestHeader starts every manifest; a file with another first line
// (an older format, or something else) is not trusted.
const manifestHeader = "brisk-manifest 2"

// manifest lets a server trust sidecars without reading them: if a file's
// size and modification time are what precompress saw, so are its bytes,
// and the recorded digests stand in for hashing. This is what makes a cold
// start read nothing that the first responses do not need. Bytes are still
// checked against the digest when they are first read.
//
// On disk it is lines of text, parsed without reflection because a cold
// start reads it before listening:
//
//	brisk-manifest 2
//	"pkg/app_bg.wasm" SIZE MTIME_NS DIGEST
//	 br SIZE MTIME_NS DIGEST
//	 gzip 0 0 - dropped
//
// A file's line quotes its path (Go syntax); its variants follow, each on
// a line that starts with a space.
type manifest struct {
	Files map[string]*manifestEntry
}

type manifestEntry struct {
	fileStamp
	Variants map[string]*manifestVariant
}

type manifestVariant struct {
	fileStamp
	// NotSmaller records that the encoding was not smaller than the
	// source, so that the next run does not spend brotli 11 to learn it
	// again. On disk it is the word "dropped".
	NotSmaller bool
}

// fileStamp identifies one version of a file cheaply, and with Tag, its
// bytes exactly.
type fileStamp struct {
	Size    int64
	ModTime int64 // Unix nanoseconds
	Tag     string
}

func stampOf(info fs.FileInfo, tag string) fileStamp {
	return fileStamp{Size: info.Size(), ModTime: info.ModTime().UnixNano(), Tag: tag}
}

// matches reports whether info still describes the stamped file.
func (st fileStamp) matches(info fs.FileInfo) bool {
	return info != nil && st.Size == info.Size() && st.ModTime == info.ModTime().UnixNano()
}

func newManifest() *manifest { return &manifest{Files: map[string]*manifestEntry{}} }

// readManifest returns the manifest in fsys, or an empty one when there is
// none or it cannot be used (then everything is simply verified the slow way).
func readManifest(fsys fs.FS) (*manifest, error) {
	data, err := fs.ReadFile(fsys, ManifestName)
	if errors.Is(err, fs.ErrNotExist) {
		return newManifest(), nil
	}
	if err != nil {
		return newManifest(), err
	}
	m, err := parseManifest(string(data))
	if err != nil {
		return newManifest(), fmt.Errorf("parse %s: %w", ManifestName, err)
	}
	return m, nil
}

func parseManifest(text string) (*manifest, error) {
	header, text, _ := strings.Cut(text, "\n")
	if header != manifestHeader {
		return nil, fmt.Errorf("not a %q file", manifestHeader)
	}
	m := newManifest()
	var entry *manifestEntry
	for n := 2; text != ""; n++ {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		if rest, ok := strings.CutPrefix(line, " "); ok {
			f := strings.Fields(rest)
			if entry == nil || len(f) < 4 || len(f) > 5 || len(f) == 5 && f[4] != "dropped" {
				return nil, fmt.Errorf("line %d: want \" CODING SIZE MTIME_NS DIGEST [dropped]\" after a file", n)
			}
			st, err := parseStamp(f[1:4])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			entry.Variants[f[0]] = &manifestVariant{fileStamp: st, NotSmaller: len(f) == 5}
			continue
		}
		quoted, err := strconv.QuotedPrefix(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: want a quoted path", n)
		}
		name, _ := strconv.Unquote(quoted)
		f := strings.Fields(line[len(quoted):])
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want \"PATH\" SIZE MTIME_NS DIGEST", n)
		}
		st, err := parseStamp(f)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		entry = &manifestEntry{fileStamp: st, Variants: map[string]*manifestVariant{}}
		m.Files[name] = entry
	}
	return m, nil
}

// parseStamp reads SIZE MTIME_NS DIGEST (a tag); a digest of "-" is none.
func parseStamp(f []string) (fileStamp, error) {
	size, err1 := strconv.ParseInt(f[0], 10, 64)
	mtime, err2 := strconv.ParseInt(f[1], 10, 64)
	if err := errors.Join(err1, err2); err != nil || size < 0 {
		return fileStamp{}, fmt.Errorf("bad size or mtime %q %q", f[0], f[1])
	}
	t := f[2]
	if t == "-" {
		t = ""
	}
	return fileStamp{Size: size, ModTime: mtime, Tag: t}, nil
}

// marshal writes the manifest in its text form, sorted, so that an
// unchanged manifest is byte for byte the same file.
func (m *manifest) marshal() []byte {
	var b strings.Builder
	b.WriteString(manifestHeader + "\n")
	stamp := func(st fileStamp) {
		t := st.Tag
		if t == "" {
			t = "-"
		}
		fmt.Fprintf(&b, " %d %d %s", st.Size, st.ModTime, t)
	}
	for _, name := range slices.Sorted(maps.Keys(m.Files)) {
		e := m.Files[name]
		b.WriteString(strconv.Quote(name))
		stamp(e.fileStamp)
		b.WriteByte('\n')
		for _, coding := range slices.Sorted(maps.Keys(e.Variants)) {
			v := e.Variants[coding]
			b.WriteString(" " + coding)
			stamp(v.fileStamp)
			if v.NotSmaller {
				b.WriteString(" dropped")
			}
			b.WriteByte('\n')
		}
	}
	return []byte(b.String())
}
