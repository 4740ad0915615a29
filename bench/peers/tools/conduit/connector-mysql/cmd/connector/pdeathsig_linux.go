// Sluice patch (not upstream): the plugin dies with the process that started it.

package main

import "syscall"

// init asks Linux to SIGKILL this plugin when its parent (Conduit) dies: Conduit stops its plugins when it
// stops gracefully, but a Conduit that is killed leaves them running, holding a binlog connection.
func init() {
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0)
	// The parent may have died before the call: then this process was already re-parented.
	if syscall.Getppid() == 1 {
		syscall.Exit(1)
	}
}
