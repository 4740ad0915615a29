//go:build linux

package parentdeath

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// deathSignal is what the kernel sends when the parent dies. It is caught here and turned into one stop
// signal: the kernel sends it again each time the thread that is the parent ends, and a multi-threaded
// parent (the go command) ends thread by thread, so a program would get several, and the examples take a
// second SIGTERM as "exit at once".
const deathSignal = syscall.SIGHUP

// Arm makes this process get stop (once) when its parent dies; a parent that died before Arm was called
// (the process was already handed to another) counts the same. It catches SIGHUP for that: a SIGHUP from
// elsewhere (a closed terminal) also sends stop once, and later SIGHUPs are ignored.
func Arm(stop syscall.Signal) error {
	parent := os.Getppid()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, deathSignal)
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(deathSignal), 0); errno != 0 {
		signal.Stop(hup)
		return fmt.Errorf("asking for a signal when the parent process dies: %w", errno)
	}
	go func() {
		<-hup // later ones fill the buffer or are dropped: nobody reads them
		_ = syscall.Kill(os.Getpid(), stop)
	}()
	if os.Getppid() != parent {
		// Orphaned before the request took effect: the kernel will not send it.
		hup <- deathSignal
	}
	return nil
}
