package topology

import "github.com/sluicehq/sluice/internal/kafka"

// resolveKafkaSecrets expands the ${env:NAME}/${file:PATH} references of k in place (package secret), so
// that the embedded broker's superuser and every client see the same resolved credentials, and registers
// the password and client secret for redaction.
func resolveKafkaSecrets(k *KafkaSecurity) error {
	sec := kafka.Security(*k)
	if err := sec.ResolveSecrets(); err != nil {
		return err
	}
	*k = KafkaSecurity(sec)
	return nil
}
