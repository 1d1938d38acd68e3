//go:build !linux

package compress

import (
	"io"
	"io/fs"
)

// readUnlessWriting reads f whole. Only Linux tells whether a file is open
// for writing (with leases); elsewhere the settle age alone guards.
func readUnlessWriting(f fs.File) ([]byte, writeState, error) {
	data, err := io.ReadAll(f)
	return data, writeUnknown, err
}
