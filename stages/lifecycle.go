package stages

import "context"

// Opener is implemented by a stage that needs resources while it runs (a connection, a cache, a model
// loaded from disk). The engine calls Open once per run of the pipeline, after the pipeline's topics and
// processors are set up and before the first record reaches any stage; an error stops the pipeline at
// start-up naming the stage. A stage value that appears in several chains (the same value in a source's and
// a flow's Via) is opened once. Open runs on every replica.
type Opener interface {
	Open(ctx context.Context) error
}

// Closer is implemented by a stage that releases resources. The engine calls Close once per run, after the
// last Process or ProcessOne returned, for every stage value whose Open succeeded (or that implements
// Closer without Opener), also when the run failed. A stage value that is run again must be usable after
// Close (open its resources again in Open).
type Closer interface {
	Close() error
}
