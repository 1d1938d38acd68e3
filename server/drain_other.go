//go:build !linux

package server

import (
	"errors"
	"net"
)

// takeQueueAndShut needs raw Linux socket calls; elsewhere connections
// still queued when the listener closes may be reset.
func takeQueueAndShut(*net.TCPListener) ([]net.Conn, error) {
	return nil, errors.New("not supported on this OS")
}
