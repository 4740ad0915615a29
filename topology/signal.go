package topology

import (
	"context"
	"log/slog"
	"os"
	ossignal "os/signal"
	"sync"
	"syscall"
)

// SignalContext returns a context that ends at the first SIGINT or SIGTERM, for Run: the pipeline then
// stops cleanly (final positions saved, offsets committed) and Run returns nil. A second signal ends the
// process at once with exit status 130 (SIGINT) or 143 (SIGTERM), for an operator who does not want to
// wait. Call stop when done to release the signals. Both are logged in the pipeline's default format
// (SLUICE_LOG_FORMAT), like the engine's own lines.
func SignalContext(parent context.Context) (ctx context.Context, stop context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	signals := make(chan os.Signal, 2)
	ossignal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	released := make(chan struct{})
	log, err := loggerFromEnv()
	if err != nil { // a bad SLUICE_LOG_* is reported by ConfigFromEnv; these two lines still go out as text
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	go func() {
		select {
		case sig := <-signals:
			log.Info("stopping; a second signal ends the process at once", "signal", sig.String())
			cancel()
		case <-released:
			return
		}
		select {
		case sig := <-signals:
			code := 130
			if sig == syscall.SIGTERM {
				code = 143
			}
			log.Warn("second signal: exiting without a clean stop", "signal", sig.String(), "exit_status", code)
			os.Exit(code)
		case <-released:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			ossignal.Stop(signals)
			close(released)
			cancel()
		})
	}
}
