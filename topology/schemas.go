package topology

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	_ "github.com/sluicehq/sluice/formats/avro" // the "avro" codec is always available to topics
	"github.com/sluicehq/sluice/internal/registrylog"
	"github.com/sluicehq/sluice/schemaregistry"
	"github.com/sluicehq/sluice/secret"

	"github.com/sluicehq/sluice/stream"
)

// Schema-registry codecs. A topic whose key or value codec is a stream.TopicCodec (the "avro" codec)
// registers the schemas of what it writes in a schema registry and finds the schemas of what it reads
// there. The run binds each such codec to its topic (ForTopic) once the registry is open: an external one
// (Config.SchemaRegistryURL) or the embedded one, whose schemas live in the compacted topic
// _sluice_schemas of the pipeline's own Kafka cluster and whose REST API (Confluent's) the operator API
// serves at /subjects, /schemas, /config, /compatibility and /mode. A pipeline none of whose topics uses
// such a codec opens no registry and creates no registry topic.

// usesRegistry reports whether a declared topic's key or value codec needs a schema registry. Unknown
// codec names count as none (Validate reports them).
func (t *Topology) usesRegistry() bool {
	for _, tp := range t.topics {
		if tp.registryCodec() {
			return true
		}
	}
	return t.usesRegistryForNewTopics() // newtopics.go
}

// registryCodec reports whether the topic's key or value codec is a stream.TopicCodec.
func (tp *Topic) registryCodec() bool {
	for _, name := range []string{tp.keyCodecName, tp.valueCodecName} {
		if c, err := stream.LookupCodec(name); err == nil {
			if _, ok := c.(stream.TopicCodec); ok {
				return true
			}
		}
	}
	return false
}

// bindTopicCodecs replaces, on every topic of the run, a key or value codec that is a stream.TopicCodec
// by the codec it returns for that topic (ForTopic), bound to reg. It fails naming the topic and the
// field when a codec refuses its binding (no registry, say).
func (p *pipelineRun) bindTopicCodecs(reg stream.SchemaRegistry) error {
	p.runtime.registry = reg // for the topics NewTopics creates later (newtopics.go)
	for _, name := range sortedTopicNames(p.topics) {
		if err := p.topics[name].bindCodecs(reg); err != nil {
			return err
		}
	}
	return nil
}

// bindCodecs replaces the topic's key or value codec that is a stream.TopicCodec by the codec it returns
// for the topic (ForTopic), bound to reg; the error names the topic and the field. bindTopicCodecs calls it
// for the declared topics, NewTopics for each topic it creates (newtopics.go).
func (tp *Topic) bindCodecs(reg stream.SchemaRegistry) error {
	for _, side := range []struct {
		field string
		key   bool
		codec *stream.Codec
	}{{"KeyCodec", true, &tp.keyCodec}, {"ValueCodec", false, &tp.valueCodec}} {
		tc, ok := (*side.codec).(stream.TopicCodec)
		if !ok {
			continue
		}
		bound, err := tc.ForTopic(stream.TopicBinding{Topic: tp.name, Key: side.key, Registry: reg, SubjectNames: tp.subjectNames})
		if err != nil {
			return fmt.Errorf("topic %q: %s %s: %w", tp.name, side.field, tc.Name(), err)
		}
		*side.codec = bound
	}
	return nil
}

func sortedTopicNames(m map[string]*Topic) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	for i := 1; i < len(names); i++ { // insertion sort: a handful of topics
		for j := i; j > 0 && names[j] < names[j-1]; j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
	return names
}

// registryPaths are the root paths of Confluent Schema Registry's REST API that the operator API serves
// for the embedded registry.
var registryPaths = []string{"/subjects", "/schemas", "/config", "/compatibility", "/mode"}

// registryRoutes mounts the embedded registry's REST API on the operator API's mux. Until the registry is
// open (or when the pipeline uses none, or an external one) the paths answer 404 with Confluent's error
// shape, saying why.
func (p *pipelineRun) registryRoutes(mux *http.ServeMux) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := p.registryHandler.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		msg := "this pipeline serves no schema registry: none of its topics uses a schema-registry codec such as avro"
		switch {
		case p.cfg.SchemaRegistryURL != "":
			msg = "this pipeline uses the external schema registry at " + p.cfg.SchemaRegistryURL + " (SLUICE_SCHEMA_REGISTRY_URL)"
		case p.t.usesRegistry():
			msg = "the embedded schema registry is not open yet (the pipeline is starting)"
		}
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]any{"error_code": 404, "message": msg})
	})
	for _, path := range registryPaths {
		mux.Handle(path, h)
		mux.Handle(path+"/", h)
	}
}

// compatibilityLevels are the schema registry's compatibility levels, as Confluent names them.
var compatibilityLevels = []string{"BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE"}

// validateSchemaRegistry checks the schema-registry fields of the configuration.
func (c Config) validateSchemaRegistry() error {
	if v := c.SchemaRegistryCompatibility; v != "" && !slices.Contains(compatibilityLevels, v) {
		return fmt.Errorf("config: SchemaRegistryCompatibility (SLUICE_SCHEMA_REGISTRY_COMPATIBILITY): %q is not one of %s",
			v, strings.Join(compatibilityLevels, ", "))
	}
	if v := c.SchemaRegistryURL; v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("config: SchemaRegistryURL (SLUICE_SCHEMA_REGISTRY_URL): %q is not an http or https URL", secret.RedactDSN(v))
		}
		if c.SchemaRegistryCompatibility != "" {
			return errors.New("config: SchemaRegistryCompatibility (SLUICE_SCHEMA_REGISTRY_COMPATIBILITY) is the embedded registry's default level; with SchemaRegistryURL set, configure the external registry itself (PUT /config)")
		}
	}
	if c.SchemaRegistryURL == "" && (c.SchemaRegistryUsername != "" || c.SchemaRegistryPassword != "") {
		return errors.New("config: SchemaRegistryUsername/SchemaRegistryPassword (SLUICE_SCHEMA_REGISTRY_USERNAME/_PASSWORD) are for an external registry, but SchemaRegistryURL (SLUICE_SCHEMA_REGISTRY_URL) is not set: the embedded registry is behind the operator API's own authentication")
	}
	return nil
}

// resolveRegistrySecrets expands ${env:}/${file:} references of the registry settings in place and
// registers the password for redaction.
func resolveRegistrySecrets(c *Config) error {
	for _, f := range []struct {
		name    string
		setting *string
		secret  bool
	}{
		{"SchemaRegistryURL (SLUICE_SCHEMA_REGISTRY_URL)", &c.SchemaRegistryURL, false},
		{"SchemaRegistryUsername (SLUICE_SCHEMA_REGISTRY_USERNAME)", &c.SchemaRegistryUsername, false},
		{"SchemaRegistryPassword (SLUICE_SCHEMA_REGISTRY_PASSWORD)", &c.SchemaRegistryPassword, true},
	} {
		if err := secret.ResolveField("config", f.name, f.setting, f.secret); err != nil {
			return err
		}
	}
	return nil
}

// registryTopic is the embedded schema registry's compacted topic (schemaregistry.DefaultTopic), shared by
// every pipeline of the cluster.
const registryTopic = schemaregistry.DefaultTopic

// openRegistry opens the run's schema registry when a declared topic's codec needs one, and binds every
// topic's registry codecs to it (bindTopicCodecs). With Config.SchemaRegistryURL it is that external
// registry, asked for its global compatibility level at once so that an unreachable registry or refused
// credentials fail start-up naming the URL; else the embedded registry on the pipeline's Kafka cluster
// (topic _sluice_schemas, created when missing), which it replays before returning and whose REST API the
// operator API serves from then on. Each step is bounded by StartupTimeout. It returns what closes the
// registry (after the run's producers and processors are done with it).
func (p *pipelineRun) openRegistry(ctx context.Context) (func(), error) {
	if !p.t.usesRegistry() {
		return func() {}, p.bindTopicCodecs(nil)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.StartupTimeout)
	defer cancel()
	var reg stream.SchemaRegistry
	closeRegistry := func() {}
	if u := p.cfg.SchemaRegistryURL; u != "" {
		c, err := schemaregistry.NewClient(u, schemaregistry.ClientOptions{Username: p.cfg.SchemaRegistryUsername,
			Password: p.cfg.SchemaRegistryPassword, Timeout: registryRequestTimeout})
		if err != nil {
			return nil, fmt.Errorf("config: SchemaRegistryURL (SLUICE_SCHEMA_REGISTRY_URL): %w", err)
		}
		level, err := c.Compatibility(ctx, "")
		if err != nil {
			return nil, fmt.Errorf("schema registry at %s (SLUICE_SCHEMA_REGISTRY_URL): %w", secret.RedactDSN(u), err)
		}
		p.log.Info("schema registry: external", "url", secret.RedactDSN(u), "compatibility", level)
		reg = c
	} else {
		settings := p.settings
		settings.Brokers, settings.ClientID = p.brokers, "sluice-schema-registry"
		log, err := registrylog.Open(ctx, settings, schemaregistry.DefaultTopic, int16(p.cfg.Replication))
		if err != nil {
			return nil, err
		}
		e, err := schemaregistry.OpenEmbedded(ctx, log, schemaregistry.EmbeddedOptions{
			DefaultCompatibility: p.cfg.SchemaRegistryCompatibility, Logger: p.log})
		if err != nil {
			return nil, fmt.Errorf("embedded schema registry on topic %s: %w", schemaregistry.DefaultTopic, err)
		}
		h := e.Handler()
		p.registryHandler.Store(&h)
		closeRegistry = func() {
			p.registryHandler.Store(nil)
			_ = e.Close()
		}
		p.log.Info("schema registry: embedded", "topic", schemaregistry.DefaultTopic, "api", p.httpAddr)
		reg = e
	}
	if err := p.bindTopicCodecs(reg); err != nil {
		closeRegistry()
		return nil, err
	}
	return closeRegistry, nil
}

// registryRequestTimeout bounds each request to an external schema registry.
const registryRequestTimeout = 10 * time.Second
