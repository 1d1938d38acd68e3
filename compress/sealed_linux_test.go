package compress

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A sealed copy holds the bytes and cannot be changed, grown or shrunk,
// by brisk or anyone else who gets hold of it.
func TestSealedCopyCannotChange(t *testing.T) {
	data := bytes.Repeat([]byte("sealed "), 20_000)
	f, err := sealedCopy(data)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := make([]byte, len(data)+1)
	if n, _ := f.ReadAt(got, 0); !bytes.Equal(got[:n], data) {
		t.Fatalf("read back %d bytes, not the %d sealed", n, len(data))
	}
	if _, err := f.WriteAt([]byte("X"), 0); err == nil {
		t.Error("a write went through")
	}
	if _, err := f.WriteAt([]byte("X"), int64(len(data))); err == nil {
		t.Error("the file grew")
	}
	if err := f.Truncate(1); err == nil {
		t.Error("the file shrank")
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, 0); err == nil {
		t.Error("the seals can still change")
	}
}

func sealable(t *testing.T, size int, b *budget) (Representation, []byte) {
	t.Helper()
	data := bytes.Repeat([]byte{'s'}, size)
	held := b.charge(int64(size))
	if held == nil {
		t.Fatal("no room for the bytes")
	}
	return Representation{Size: int64(size), content: inMemory(data, held)}, data
}

// The copy is made once a server asks for it, charged to the budget, and
// closed with its representation: a sendfile that starts after that finds
// the file closed rather than another file under its number.
func TestSealedCopyLivesWithItsRepresentation(t *testing.T) {
	b := newBudget(1 << 20)
	r, data := sealable(t, sealFrom, b)
	deadline := time.Now().Add(10 * time.Second)
	raw := r.Sealed()
	for raw == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		raw = r.Sealed()
	}
	if raw == nil {
		t.Fatal("no sealed copy after 10 s")
	}
	if used := b.used.Load(); used != 2*int64(len(data)) {
		t.Errorf("budget holds %d bytes, want the bytes twice (%d)", used, 2*len(data))
	}
	got := make([]byte, len(data))
	if err := raw.Control(func(fd uintptr) { _, _ = unix.Pread(int(fd), got, 0) }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Error("the sealed copy differs from the bytes")
	}
	r.release()
	if r.Sealed() != nil {
		t.Error("a released representation still offers its sealed copy")
	}
	if err := raw.Control(func(uintptr) { t.Error("the released copy is still open") }); err == nil {
		t.Error("Control on the released copy did not fail")
	}
	if used := b.used.Load(); used != 0 {
		t.Errorf("budget still holds %d bytes after the release", used)
	}
	if open := sealedOpen.Load(); open != 0 {
		t.Errorf("%d sealed copies counted open after the release", open)
	}
}

func TestSealedCopyWhenItCannot(t *testing.T) {
	t.Run("small", func(t *testing.T) {
		r, _ := sealable(t, sealFrom-1, newBudget(1<<20))
		if r.Sealed() != nil || r.content.sealStarted.Load() {
			t.Error("a representation under sealFrom is sealed")
		}
	})
	t.Run("no room", func(t *testing.T) {
		b := newBudget(sealFrom)
		r, _ := sealable(t, sealFrom, b)
		r.content.seal()
		if r.content.sealed.Load() != nil || b.used.Load() != sealFrom {
			t.Error("sealed beyond the budget")
		}
	})
	t.Run("released meanwhile", func(t *testing.T) {
		b := newBudget(1 << 20)
		r, _ := sealable(t, sealFrom, b)
		r.release()
		r.content.seal()
		if r.content.sealed.Load() != nil || b.used.Load() != 0 {
			t.Error("a released representation was sealed")
		}
	})
	t.Run("too many open", func(t *testing.T) {
		sealedOpen.Add(maxSealed)
		defer sealedOpen.Add(-maxSealed)
		b := newBudget(1 << 20)
		r, _ := sealable(t, sealFrom, b)
		r.content.seal()
		if r.content.sealed.Load() != nil || b.used.Load() != sealFrom || sealedOpen.Load() != maxSealed {
			t.Error("sealed beyond maxSealed")
		}
	})
	t.Run("on disk", func(t *testing.T) {
		r := verifiedOnDisk(nil, "x", "", "t", fileStamp{Size: sealFrom})
		if r.Sealed() != nil || r.content.sealStarted.Load() {
			t.Error("bytes on disk are sealed")
		}
	})
}
