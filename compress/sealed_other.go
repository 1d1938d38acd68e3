//go:build !linux

package compress

import (
	"errors"
	"os"
)

// sealedCopy needs memfd_create, which only Linux has; elsewhere bytes in
// memory are written from there, and Representation.Sealed makes no copy.
func sealedCopy([]byte) (*os.File, error) { return nil, errors.ErrUnsupported }

const canSeal = false
