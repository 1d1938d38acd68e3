//go:build !windows

package main

import "syscall"

// ownProcessGroup puts the child in a process group of its own: a Ctrl-C
// in the terminal reaches brisk only, which drains its own requests before
// passing the signal on.
func ownProcessGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
