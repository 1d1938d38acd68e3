package server

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// takeQueueAndShut accepts every connection waiting in the listening
// socket's queue and, as soon as the queue is empty, shuts the socket down
// so that the kernel refuses new ones. Both happen in one tight loop on the
// raw socket: only a handshake completing in the microsecond between the
// last accept and the shutdown can still be reset.
func takeQueueAndShut(ln *net.TCPListener) ([]net.Conn, error) {
	raw, err := ln.SyscallConn()
	if err != nil {
		return nil, err
	}
	var fds []int
	var opErr error
	err = raw.Control(func(fd uintptr) {
		for {
			nfd, _, err := unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			switch {
			case err == nil:
				fds = append(fds, nfd)
				continue
			case errors.Is(err, unix.EINTR), errors.Is(err, unix.ECONNABORTED):
				continue
			case !errors.Is(err, unix.EAGAIN):
				opErr = fmt.Errorf("accept: %w", err)
			}
			if err := unix.Shutdown(int(fd), unix.SHUT_RD); err != nil {
				opErr = errors.Join(opErr, fmt.Errorf("shutdown: %w", err))
			}
			return
		}
	})
	if err != nil {
		return nil, err
	}
	conns := make([]net.Conn, 0, len(fds))
	for _, fd := range fds {
		f := os.NewFile(uintptr(fd), "accepted")
		c, err := net.FileConn(f) // duplicates the descriptor
		f.Close()
		if err != nil {
			opErr = errors.Join(opErr, err)
			continue
		}
		conns = append(conns, c)
	}
	return conns, opErr
}
