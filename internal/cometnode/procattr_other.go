//go:build !linux

package cometnode

import "syscall"

// sysProcAttr is the default: only Linux can tie a child's life to ours.
func sysProcAttr() *syscall.SysProcAttr { return nil }
