package cometnode

import "syscall"

// sysProcAttr has the kernel kill a node when the process that started it
// dies, so that a test binary killed on timeout leaves no cometbft behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
