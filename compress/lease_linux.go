package compress

import (
	"errors"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// readUnlessWriting lets read read f, unless some process has it open for
// writing. It takes a read lease for the duration of the read: Linux
// grants one only when no one has the file open for writing, and a writer
// that opens it meanwhile waits until the lease is released. So a file
// being rewritten in place is never read halfway, however long its writer
// stalls. Where leases are refused (another owner, leases disabled), it
// falls back to a plain read and the caller relies on timing alone.
func readUnlessWriting(f fs.File, read func(io.Reader) error) (writeState, error) {
	osf, ok := f.(*os.File)
	if !ok {
		return writeUnknown, read(f)
	}
	fd := osf.Fd()
	if _, err := unix.FcntlInt(fd, unix.F_SETLEASE, unix.F_RDLCK); err != nil {
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EBUSY) {
			return beingWritten, nil
		}
		return writeUnknown, read(f)
	}
	defer unix.FcntlInt(fd, unix.F_SETLEASE, unix.F_UNLCK)
	return notWritten, read(f)
}
