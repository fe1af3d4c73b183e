package gethnode

import "syscall"

// sysProcAttr kills geth when the process that started it dies (a test
// binary that timed out, say), so no node outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
