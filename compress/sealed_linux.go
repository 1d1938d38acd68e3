package compress

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// sealedCopy returns an in-memory file holding a copy of data, sealed so
// that no one, brisk included, can change, grow or shrink it again
// (memfd_create(2), F_ADD_SEALS). A server sends from it with sendfile,
// which spares the copy from the process into the socket that a write
// costs, and each response passes its own offset, so one file serves
// every connection at once.
func sealedCopy(data []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate("brisk-representation", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "brisk-representation")
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, fmt.Errorf("fill sealed file: %w", err)
	}
	const seals = unix.F_SEAL_WRITE | unix.F_SEAL_GROW | unix.F_SEAL_SHRINK | unix.F_SEAL_SEAL
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal: %w", err)
	}
	return f, nil
}

// canSeal says that sealedCopy can work here.
const canSeal = true
