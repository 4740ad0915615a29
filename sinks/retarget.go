package sinks

import "context"

// Retargeter is implemented by a sink that writes through a name that points to a destination (a search
// index alias pointing to an index), so that the destination can be rebuilt without downtime: the engine
// fills a new destination from the flow's topic with a second copy of the flow while the live sink keeps
// writing through the name, then moves the name over in one atomic step (topology.Rebuild).
//
// Lifecycle of a rebuild: Pointer reads where the name points now; Retarget returns a separate sink for the
// new destination, which the engine Opens (creating the destination, which must not exist yet), writes and
// Closes like any sink; Repoint moves the name from the old destination to the new one atomically, so that
// a reader of the name sees one or the other, never neither; Drop deletes a destination. Every method
// honours ctx and bounds its calls to the external system.
type Retargeter interface {
	// Pointer returns the name the sink writes through and the destination it points to now. An error says
	// why it cannot tell (the name points nowhere, or to more than one destination).
	Pointer(ctx context.Context) (name, destination string, err error)
	// NextDestination proposes the name of a fresh destination after current (e.g. orders-000002 after
	// orders-000001).
	NextDestination(current string) string
	// Retarget returns a sink that writes what this sink would write into destination instead of through
	// the name. Its Open creates the destination (with the sink's configured mapping) and fails if it
	// exists already.
	Retarget(destination string) (Sink, error)
	// Repoint moves the name from destination from to destination to, atomically.
	Repoint(ctx context.Context, from, to string) error
	// Drop deletes a destination.
	Drop(ctx context.Context, destination string) error
}
