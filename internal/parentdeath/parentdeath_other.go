//go:build !linux

package parentdeath

import "syscall"

// Arm does nothing outside Linux: there the program outlives its parent.
func Arm(sig syscall.Signal) error { return nil }
