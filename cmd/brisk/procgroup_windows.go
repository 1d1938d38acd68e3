package main

import "syscall"

// ownProcessGroup keeps the console's Ctrl-C from reaching the child, as
// a process group of its own does on Unix. Windows cannot deliver SIGINT
// or SIGTERM to another process: stopping it kills it (see child.stop).
func ownProcessGroup() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}
