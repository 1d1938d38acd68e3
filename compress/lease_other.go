//go:build !linux

package compress

import (
	"io"
	"io/fs"
)

// readUnlessWriting lets read read f. Only Linux tells whether a file is open
// for writing (with leases); elsewhere the settle age alone guards.
func readUnlessWriting(f fs.File, read func(io.Reader) error) (writeState, error) {
	return writeUnknown, read(f)
}
