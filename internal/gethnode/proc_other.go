//go:build !linux

package gethnode

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
