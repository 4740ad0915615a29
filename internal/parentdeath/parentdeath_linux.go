//go:build linux

package parentdeath

import (
	"fmt"
	"os"
	"syscall"
)

// Arm makes the kernel send sig to this process when its parent dies. A parent that died before Arm was
// called (the process was already handed to another) gets the same: sig is sent at once.
func Arm(sig syscall.Signal) error {
	parent := os.Getppid()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(sig), 0); errno != 0 {
		return fmt.Errorf("asking for %v when the parent process dies: %w", sig, errno)
	}
	if os.Getppid() != parent {
		// Orphaned before the request took effect: the kernel will not send it.
		return syscall.Kill(os.Getpid(), sig)
	}
	return nil
}
