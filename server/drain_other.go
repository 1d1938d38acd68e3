//go:build !linux

package server

import "net"

// takeQueueAndShut needs raw Linux socket calls to take what is queued
// before the socket shuts. Elsewhere it closes the listener: connections
// still queued in the kernel at that instant may be reset, as with any
// server that closes its listener.
func takeQueueAndShut(ln *net.TCPListener) ([]net.Conn, error) {
	return nil, ln.Close()
}
