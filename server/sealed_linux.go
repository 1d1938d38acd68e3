package server

import (
	"io"
	"syscall"

	"golang.org/x/sys/unix"
)

// sealedSend is the state of one sendSealed, kept in its connection so
// that the callbacks the runtime takes are bound once per connection and
// a response allocates nothing.
type sealedSend struct {
	head     []byte // what is left of the head to send
	fd       int
	off, end int64 // what is left of the body; sendfile advances off
	err      error
	// Bound on first use.
	sock     syscall.RawConn
	onFile   func(uintptr)
	onSocket func(uintptr) bool
}

// sendSealed writes head (if any) and then bytes [off, off+n) of file on
// the connection: the head with MSG_MORE, so that the kernel sends it with
// the body rather than in a segment of its own, then the body with
// sendfile at an offset of its own. It waits for room on the socket as
// net.Conn's writes do, until the write deadline. errUnsent means nothing
// went out: the file was closed (its representation released).
func (hc *h1Conn) sendSealed(head []byte, file syscall.RawConn, off, n int64) (sent int64, headSent bool, err error) {
	s := &hc.sealed
	if s.onFile == nil {
		if s.sock, err = hc.c.TCPConn.SyscallConn(); err != nil {
			return 0, false, errUnsent
		}
		s.onFile, s.onSocket = hc.sealedFile, hc.sealedSocket
	}
	s.head, s.off, s.end, s.err = head, off, off+n, nil
	if file.Control(s.onFile) != nil {
		return 0, false, errUnsent
	}
	return s.off - off, len(s.head) < len(head), s.err
}

// sealedFile runs while the sealed file is held open.
func (hc *h1Conn) sealedFile(fd uintptr) {
	s := &hc.sealed
	s.fd = int(fd)
	if err := s.sock.Write(s.onSocket); err != nil {
		s.err = err // the deadline, or the connection closed
	}
}

// sealedSocket writes what it can; false asks the runtime to wait until
// the socket takes more.
func (hc *h1Conn) sealedSocket(sock uintptr) bool {
	s := &hc.sealed
	for len(s.head) > 0 {
		n, err := unix.SendmsgN(int(sock), s.head, nil, nil, unix.MSG_MORE|unix.MSG_NOSIGNAL)
		switch err {
		case nil:
			s.head = s.head[n:]
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			s.err = err
			return true
		}
	}
	for s.off < s.end {
		n, err := unix.Sendfile(int(sock), s.fd, &s.off, int(min(s.end-s.off, 1<<30)))
		switch {
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			return false
		case err != nil:
			s.err = err
			return true
		case n == 0: // the file is shorter than it should be
			s.err = io.ErrUnexpectedEOF
			return true
		}
	}
	return true
}
