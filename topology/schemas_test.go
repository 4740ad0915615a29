package topology_test

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/topology"
)

// A subject name strategy that Confluent's serializers do not know fails Validate naming the topic and the
// field; the three they know pass.
func TestSubjectNamesValidated(t *testing.T) {
	for _, strategy := range []string{"topic", "record", "topic-record"} {
		tp := topology.New("p")
		tp.Source("files", nopSource{}).To(tp.Topic("lines", topology.SubjectNames(strategy)))
		if err := tp.Validate(); err != nil {
			t.Errorf("SubjectNames(%q): %v", strategy, err)
		}
	}
	tp := topology.New("p")
	tp.Source("files", nopSource{}).To(tp.Topic("lines", topology.SubjectNames("TopicNameStrategy")))
	err := tp.Validate()
	if err == nil || !strings.Contains(err.Error(), `topic "lines": SubjectNames "TopicNameStrategy" is not one of topic, record, topic-record`) {
		t.Fatalf("Validate: %v", err)
	}
}

// The schema-registry settings come from their SLUICE_ variables; a compatibility level that is not one of
// Confluent's, a URL that is not http(s), and credentials without a URL fail naming the variable.
func TestSchemaRegistryConfigFromEnv(t *testing.T) {
	t.Setenv("SLUICE_SCHEMA_REGISTRY_COMPATIBILITY", "FORWARD_TRANSITIVE")
	cfg, err := topology.ConfigFromEnv()
	if err != nil || cfg.SchemaRegistryCompatibility != "FORWARD_TRANSITIVE" || cfg.SchemaRegistryURL != "" {
		t.Fatalf("ConfigFromEnv: %+v, %v", cfg, err)
	}
	for _, c := range []struct{ env, value, want string }{
		{"SLUICE_SCHEMA_REGISTRY_COMPATIBILITY", "forwards", `SLUICE_SCHEMA_REGISTRY_COMPATIBILITY): "forwards" is not one of BACKWARD, BACKWARD_TRANSITIVE, FORWARD`},
		{"SLUICE_SCHEMA_REGISTRY_URL", "registry:8081", `SLUICE_SCHEMA_REGISTRY_URL): "registry:8081" is not an http or https URL`},
		{"SLUICE_SCHEMA_REGISTRY_USERNAME", "ann", `SLUICE_SCHEMA_REGISTRY_URL) is not set`},
	} {
		t.Run(c.env, func(t *testing.T) {
			t.Setenv("SLUICE_SCHEMA_REGISTRY_COMPATIBILITY", "")
			t.Setenv(c.env, c.value)
			if _, err := topology.ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%s=%s: %v, want %q", c.env, c.value, err, c.want)
			}
		})
	}
	t.Setenv("SLUICE_SCHEMA_REGISTRY_COMPATIBILITY", "")
	t.Setenv("SLUICE_SCHEMA_REGISTRY_URL", "https://registry.example:8081")
	t.Setenv("SLUICE_SCHEMA_REGISTRY_USERNAME", "ann")
	t.Setenv("SLUICE_SCHEMA_REGISTRY_PASSWORD", "${env:REGISTRY_PW}")
	cfg, err = topology.ConfigFromEnv()
	if err != nil || cfg.SchemaRegistryURL != "https://registry.example:8081" || cfg.SchemaRegistryPassword != "${env:REGISTRY_PW}" {
		t.Fatalf("ConfigFromEnv: %+v, %v", cfg, err)
	}
}
