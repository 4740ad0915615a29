package kafka

import (
	"context"
	"time"

	"github.com/IBM/sarama"
)

// CheckAuth connects to the brokers one after another, within timeout in all, and returns an *AuthError
// or *TLSError as soon as one of them refuses a's credentials or fails the TLS handshake. It returns nil
// once one broker accepted them, and also when none could be reached: reachability is reported by the
// start-up requests that follow (with their own deadlines). It is called once at start-up so that wrong
// credentials fail at once with a clear error, instead of every client retrying them until its deadline.
func CheckAuth(ctx context.Context, brokers []string, a *Auth, timeout time.Duration) error {
	if a == nil {
		return nil
	}
	cfg := StartupConfig(SaramaConfig(Settings{ClientID: "sluice-auth-check", Auth: a}), timeout)
	cfg.Net.ReadTimeout = min(cfg.Net.ReadTimeout, timeout)
	deadline := time.Now().Add(timeout)
	for _, addr := range brokers {
		left := time.Until(deadline)
		if left <= 0 {
			return nil
		}
		err, _ := Within(ctx, left, brokers, "a connection", func() (error, error) {
			b := sarama.NewBroker(addr)
			if err := b.Open(cfg); err != nil {
				return err, nil
			}
			defer b.Close()
			_, err := b.GetMetadata(&sarama.MetadataRequest{Version: 7})
			return err, nil
		}, nil)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			return nil
		}
		if NotTransient(err) {
			return ExplainAuth(err, []string{addr}, a)
		}
	}
	return nil
}
