package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/IBM/sarama"
)

// CheckAuth connects to the brokers one after another, within timeout in all, and returns an *AuthError
// or *TLSError as soon as one of them refuses a's credentials or fails the TLS handshake. It returns nil
// once one broker accepted them, and also when none could be reached: reachability is reported by the
// start-up requests that follow (with their own deadlines). It is called once at start-up so that wrong
// credentials fail at once with a clear error, instead of every client retrying them until its deadline.
//
// Apache Kafka answers wrong credentials with SASL_AUTHENTICATION_FAILED. The embedded broker (kfake) closes
// the connection instead; so when the SASL exchange ends in a closed connection while the same broker
// answers a request without SASL right after, CheckAuth reports that as refused credentials too.
func CheckAuth(ctx context.Context, brokers []string, a *Auth, timeout time.Duration) error {
	if a == nil {
		return nil
	}
	cfg := StartupConfig(SaramaConfig(Settings{ClientID: "sluice-auth-check", Auth: a}), timeout)
	cfg.Net.ReadTimeout = min(cfg.Net.ReadTimeout, timeout)
	deadline := time.Now().Add(timeout)
	for _, addr := range brokers {
		err := connectOnce(ctx, addr, cfg, time.Until(deadline))
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			return nil
		}
		if NotTransient(err) {
			return ExplainAuth(err, []string{addr}, a)
		}
		if cfg.Net.SASL.Enable && closedConnection(err) {
			plain := *cfg
			plain.Net.SASL.Enable = false
			if connectOnce(ctx, addr, &plain, time.Until(deadline)) == nil {
				return &AuthError{Brokers: []string{addr}, Who: a.who(),
					Err: fmt.Errorf("the broker closed the connection during SASL authentication (%w)", err)}
			}
		}
		if time.Until(deadline) <= 0 {
			return nil
		}
	}
	return nil
}

// connectOnce opens one connection to addr with cfg (TLS and SASL included) and asks for the API versions,
// within timeout.
func connectOnce(ctx context.Context, addr string, cfg *sarama.Config, timeout time.Duration) error {
	if timeout <= 0 {
		return &NoAnswerError{Brokers: []string{addr}, What: "a connection", After: 0}
	}
	err, werr := Within(ctx, timeout, []string{addr}, "a connection", func() (error, error) {
		b := sarama.NewBroker(addr)
		if err := b.Open(cfg); err != nil {
			return err, nil
		}
		defer b.Close()
		if ok, err := b.Connected(); !ok || err != nil {
			if err == nil {
				err = sarama.ErrNotConnected
			}
			return err, nil
		}
		_, err := b.ApiVersions(&sarama.ApiVersionsRequest{})
		return err, nil
	}, nil)
	if werr != nil {
		return werr
	}
	return err
}

// closedConnection reports whether err is the peer closing or resetting the connection.
func closedConnection(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
