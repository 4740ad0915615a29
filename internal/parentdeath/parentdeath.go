// Package parentdeath makes a program stop when the process that started it dies: the examples arm it at
// start-up so that killing `go run` (which runs the example as its child and does not pass a SIGKILL on)
// does not leave the example running with its ports and its data directory's lock.
//
// On Linux, Arm asks the kernel for SIGHUP when the parent dies (prctl PR_SET_PDEATHSIG) and turns the
// first SIGHUP into one stop signal, SIGTERM in the examples, so they stop as after Ctrl-C: positions saved,
// offsets committed, locks released. The kernel sends its signal when the parent thread that started the
// program ends, and again as each other thread of the parent ends (seen: two SIGTERMs from a killed
// `go run`, and the second one means "exit at once" to the examples); hence one stop signal, whatever
// comes. `go run` and shells start children from threads that live as long as they do. Elsewhere Arm does
// nothing.
package parentdeath
