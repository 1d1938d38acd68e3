package compress

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
)

// spillDir is where bytes that exist only in brisk (variants, transformed
// files) go when the memory budget is spent. Each spilled representation
// has a file of its own, removed when the representation is released, so
// the directory holds only what the current versions need.
type spillDir struct {
	mu    sync.Mutex
	dir   string // Config.CacheDir, or the temporary directory once made
	owned bool   // dir is a temporary directory of ours
}

// path returns the directory, making a temporary one on first use.
func (d *spillDir) path(s *Store) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dir == "" {
		dir, err := os.MkdirTemp("", "brisk-cache-")
		if err != nil {
			return "", err
		}
		d.dir, d.owned = dir, true
		s.log.Info("memory budget reached; keeping further bytes on disk", "dir", dir, "budget", s.budget.limit)
	}
	return d.dir, nil
}

func (d *spillDir) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.owned {
		return nil
	}
	d.owned = false
	return os.RemoveAll(d.dir)
}

// keepBytes makes a representation of data: in memory if the budget has
// room, or else in a file of the cache directory.
func (s *Store) keepBytes(coding string, data []byte) (Representation, error) {
	t, size := tag(data, coding), int64(len(data))
	if held := s.budget.charge(size); held != nil {
		return Representation{Coding: coding, Tag: t, Size: size, content: inMemory(data, held)}, nil
	}
	dir, err := s.spill.path(s)
	if err != nil {
		return Representation{}, err
	}
	f, err := os.CreateTemp(dir, "spilled-")
	if err != nil {
		return Representation{}, err
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Close()); err != nil {
		os.Remove(f.Name())
		return Representation{}, err
	}
	info, err := os.Stat(f.Name())
	if err != nil {
		os.Remove(f.Name())
		return Representation{}, err
	}
	r := verifiedOnDisk(os.DirFS(dir), filepath.Base(f.Name()), coding, t, stampOf(info, ""))
	r.content.spilled = f.Name()
	return r, nil
}
