package compress

import (
	"crypto/rand"
	"errors"
	"os"
	"sync"
)

// spillDir is where bytes that exist only in brisk (variants, transformed
// files) go when the memory budget is spent. Each spilled representation
// has a file of its own, removed when the representation is released, so
// the directory holds only what the current versions need. Like the site,
// it is read and written only through os.Root: a file in it swapped for a
// symlink to elsewhere is refused, never served.
type spillDir struct {
	mu    sync.Mutex
	dir   string   // Config.CacheDir, or the temporary directory once made
	root  *os.Root // dir, opened on first use
	owned bool     // dir is a temporary directory of ours
}

// open returns the directory's root, making a temporary directory on first
// use when no CacheDir was given.
func (d *spillDir) open(s *Store) (*os.Root, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.root != nil {
		return d.root, nil
	}
	if d.dir == "" {
		dir, err := os.MkdirTemp("", "brisk-cache-")
		if err != nil {
			return nil, err
		}
		d.dir, d.owned = dir, true
		s.log.Info("memory budget reached; keeping further bytes on disk", "dir", dir, "budget", s.budget.limit)
	}
	root, err := os.OpenRoot(d.dir)
	if err != nil {
		return nil, err
	}
	d.root = root
	return root, nil
}

// close removes the directory if it is a temporary one of ours. A
// CacheDir given in the Config stays open, so that files released just
// before are still removed after their grace period.
func (d *spillDir) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.owned {
		return nil
	}
	d.owned = false
	if d.root != nil {
		d.root.Close()
		d.root = nil
	}
	return os.RemoveAll(d.dir)
}

// spilledFile is one file of the cache directory.
type spilledFile struct {
	root *os.Root
	name string
}

func (f spilledFile) remove() { _ = f.root.Remove(f.name) }

// keepBytes makes a representation of data: in memory if the budget has
// room, or else in a file of the cache directory.
func (s *Store) keepBytes(coding string, data []byte) (Representation, error) {
	return s.keepTagged(coding, tag(data, coding), data)
}

// keepTagged is keepBytes for data whose tag t is known.
func (s *Store) keepTagged(coding, t string, data []byte) (Representation, error) {
	size := int64(len(data))
	if held := s.budget.charge(size); held != nil {
		return Representation{Coding: coding, Tag: t, Size: size, content: inMemory(data, held)}, nil
	}
	root, err := s.spill.open(s)
	if err != nil {
		return Representation{}, err
	}
	name := "spilled-" + rand.Text()
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Representation{}, err
	}
	sf := spilledFile{root, name}
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Close()); err != nil {
		sf.remove()
		return Representation{}, err
	}
	info, err := root.Stat(name)
	if err != nil {
		sf.remove()
		return Representation{}, err
	}
	r := verifiedOnDisk(root.FS(), name, coding, t, stampOf(info, ""))
	r.content.spilled = &sf
	return r, nil
}
