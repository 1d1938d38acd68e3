//go:build !linux

package server

import "syscall"

// sealedSend has nothing to keep where sendSealed sends nothing.
type sealedSend struct{}

// sendSealed needs Linux's sendfile at an offset; elsewhere bodies go out
// from memory.
func (hc *h1Conn) sendSealed([]byte, syscall.RawConn, int64, int64) (int64, bool, error) {
	return 0, false, errUnsent
}
