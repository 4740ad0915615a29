package sinks_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/sinks"
)

func TestRetryable(t *testing.T) {
	if sinks.Retryable(nil) != nil {
		t.Error("Retryable(nil) is not nil")
	}
	cause := errors.New("dial tcp 10.0.0.7:9200: connection refused")
	err := fmt.Errorf("elasticsearch sink: bulk to orders: %w", sinks.Retryable(cause))
	if !sinks.IsRetryable(err) || !errors.Is(err, cause) {
		t.Errorf("a wrapped retryable error: IsRetryable %v, Is(cause) %v", sinks.IsRetryable(err), errors.Is(err, cause))
	}
	if err.Error() != "elasticsearch sink: bulk to orders: dial tcp 10.0.0.7:9200: connection refused" {
		t.Errorf("the mark changes the text: %q", err)
	}
	if sinks.IsRetryable(cause) || sinks.IsRetryable(&sinks.RejectedError{}) {
		t.Error("unmarked errors are retryable")
	}
}
