package compress

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"time"
)

// ManifestName is where `brisk precompress` records what its sidecars
// encode. It is a dotfile, so it is never served.
const ManifestName = ".brisk-manifest.json"

const manifestVersion = 1

// manifest lets a server trust sidecars without reading them: if a file's
// size and modification time are what precompress saw, so are its bytes,
// and the recorded digests stand in for hashing. This is what makes a cold
// start read nothing that the first responses do not need. Bytes are still
// checked against the digest when they are first read.
type manifest struct {
	Version int                       `json:"version"`
	Files   map[string]*manifestEntry `json:"files"`
}

type manifestEntry struct {
	fileStamp
	Variants map[string]*manifestVariant `json:"variants"`
}

type manifestVariant struct {
	fileStamp
	// Dropped records that the encoding was not smaller than the source,
	// so that the next run does not spend brotli 11 to learn it again.
	Dropped bool `json:"dropped,omitempty"`
}

// fileStamp identifies one version of a file cheaply.
type fileStamp struct {
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
	Digest  string `json:"digest,omitempty"`
}

func stampOf(info fs.FileInfo, digest string) fileStamp {
	return fileStamp{Size: info.Size(), ModTime: info.ModTime().UnixNano(), Digest: digest}
}

// matches reports whether info still describes the stamped file.
func (st fileStamp) matches(info fs.FileInfo) bool {
	return info != nil && st.Size == info.Size() && st.ModTime == info.ModTime().UnixNano()
}

// readManifest returns the manifest in fsys, or an empty one when there is
// none or it cannot be used (then everything is simply verified the slow way).
func readManifest(fsys fs.FS) (*manifest, error) {
	empty := &manifest{Version: manifestVersion, Files: map[string]*manifestEntry{}}
	data, err := fs.ReadFile(fsys, ManifestName)
	if errors.Is(err, fs.ErrNotExist) {
		return empty, nil
	}
	if err != nil {
		return empty, err
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return empty, fmt.Errorf("parse %s: %w", ManifestName, err)
	}
	if m.Version != manifestVersion || m.Files == nil {
		return empty, fmt.Errorf("%s: unsupported version %d", ManifestName, m.Version)
	}
	for _, e := range m.Files {
		if e.Variants == nil {
			e.Variants = map[string]*manifestVariant{}
		}
	}
	return &m, nil
}

// writeAtomic replaces name under root with data: a reader sees the old
// file or the new one, never a part. The temporary file is a dotfile, so
// even one left behind by a crash is never served.
func writeAtomic(root *os.Root, name string, data []byte, perm fs.FileMode) error {
	dir, base := path.Split(name)
	tmp := dir + "." + base + ".tmp-" + fmt.Sprint(time.Now().UnixNano())
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		root.Remove(tmp)
		return err
	}
	if err := root.Rename(tmp, name); err != nil {
		root.Remove(tmp)
		return err
	}
	return nil
}
