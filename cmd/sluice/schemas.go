package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/registrylog"
	"github.com/sluicehq/sluice/schemaregistry"
	"github.com/spf13/cobra"
)

// registryKafka is the --registry value that reads and writes the embedded registry's topic through Kafka
// (--brokers) instead of over HTTP: it works while no pipeline runs.
const registryKafka = "kafka"

// registryFlags are the flags of the commands that use a schema registry (schemas, tail --codec avro).
type registryFlags struct {
	url           string
	token         string
	compatibility string // the embedded registry's default level, in kafka mode
}

func (f *registryFlags) register(cmd *cobra.Command) {
	def := os.Getenv("SLUICE_SCHEMA_REGISTRY_URL")
	if def == "" {
		def = os.Getenv("SLUICE_API_URL")
	}
	if def == "" {
		def = defaultAPIURL
	}
	cmd.Flags().StringVar(&f.url, "registry", def, "the schema registry: a URL (default $SLUICE_SCHEMA_REGISTRY_URL, else the pipeline's operator API $SLUICE_API_URL or "+
		defaultAPIURL+", which serves the embedded registry), or \"kafka\": the embedded registry's topic "+schemaregistry.DefaultTopic+" read and written through Kafka at --brokers (no pipeline needs to run)")
	cmd.Flags().StringVar(&f.token, "token", "", "the operator API token when --registry is a pipeline's API (default $SLUICE_API_TOKEN)")
	cmd.Flags().StringVar(&f.compatibility, "default-compatibility", os.Getenv("SLUICE_SCHEMA_REGISTRY_COMPATIBILITY"),
		"with --registry kafka: the registry's default compatibility level, as the pipelines on that cluster have it (default $SLUICE_SCHEMA_REGISTRY_COMPATIBILITY, else BACKWARD)")
}

// registryConn is an open connection to a schema registry: base URL and an HTTP client whose every
// request carries the credentials (or, with --registry kafka, is answered in this process by an embedded
// registry on the Kafka topic).
type registryConn struct {
	base  string
	http  *http.Client
	close func()
}

// open connects to the registry the flags name; k (its --brokers and --timeout) serves --registry kafka.
func (f *registryFlags) open(ctx context.Context, k *kafkaFlags) (*registryConn, error) {
	if f.url == registryKafka {
		addrs, err := k.addrs()
		if err != nil {
			return nil, err
		}
		log, err := openRegistryLog(ctx, addrs, k.timeout)
		if err != nil {
			return nil, err
		}
		e, err := schemaregistry.OpenEmbedded(ctx, log, schemaregistry.EmbeddedOptions{DefaultCompatibility: f.compatibility,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			return nil, fmt.Errorf("schema registry on Kafka at %s (topic %s): %w", strings.Join(addrs, ","), schemaregistry.DefaultTopic, err)
		}
		return &registryConn{base: "http://kafka", http: &http.Client{Transport: handlerTransport{e.Handler()}}, close: func() { _ = e.Close() }}, nil
	}
	u := strings.TrimRight(f.url, "/")
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		if u == "" || strings.Contains(u, "://") {
			return nil, fmt.Errorf("--registry %q: want http://host:port or kafka", f.url)
		}
		u = "http://" + u
	}
	token := f.token
	if token == "" {
		token = os.Getenv("SLUICE_API_TOKEN")
	}
	rt := authTransport{next: http.DefaultTransport, token: token,
		user: os.Getenv("SLUICE_SCHEMA_REGISTRY_USERNAME"), password: os.Getenv("SLUICE_SCHEMA_REGISTRY_PASSWORD")}
	return &registryConn{base: u, http: &http.Client{Transport: rt}, close: func() {}}, nil
}

// client returns a schemaregistry.Client on the connection (for decoding records by schema id).
func (c *registryConn) client(timeout time.Duration) (*schemaregistry.Client, error) {
	return schemaregistry.NewClient(c.base, schemaregistry.ClientOptions{HTTPClient: c.http, Timeout: timeout})
}

// authTransport sends HTTP Basic credentials (an external registry's) or a bearer token (a pipeline's
// operator API) with every request.
type authTransport struct {
	next                  http.RoundTripper
	token, user, password string
}

func (t authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case t.user != "" || t.password != "":
		r = r.Clone(r.Context())
		r.SetBasicAuth(t.user, t.password)
	case t.token != "":
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+t.token)
	}
	return t.next.RoundTrip(r)
}

// handlerTransport answers requests with an in-process handler.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// do sends one request to the registry and decodes its JSON answer into out (raw receives it as it is).
// An error answer is returned in Confluent's words: "<message> (<error_code>)".
func (c *registryConn) do(ctx context.Context, method, path string, body any, out any, raw *json.RawMessage) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.schemaregistry.v1+json, application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("schema registry at %s: %w", c.base, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("schema registry at %s: %s %s: %w", c.base, method, path, err)
	}
	if res.StatusCode >= 300 {
		var e struct {
			Code    int    `json:"error_code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &e) == nil && e.Message != "" {
			return fmt.Errorf("schema registry at %s: %s (%d)", c.base, e.Message, e.Code)
		}
		return fmt.Errorf("schema registry at %s: %s %s: HTTP %d: %.200s", c.base, method, path, res.StatusCode, b)
	}
	if raw != nil {
		*raw = b
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("schema registry at %s: %s %s: the answer is not the expected JSON (%v): %.200s", c.base, method, path, err, b)
		}
	}
	return nil
}

func schemasCommand() *cobra.Command {
	var rf registryFlags
	var kf kafkaFlags
	var output string
	var id int
	cmd := &cobra.Command{
		Use:   "schemas subjects | versions SUBJECT | get SUBJECT [VERSION] | get --id ID | config [SUBJECT [LEVEL]]",
		Short: "Read a schema registry's subjects, versions and schemas, and read or set compatibility levels",
		Long: `Read a schema registry (the embedded one a pipeline serves on its operator API, an external
Confluent-compatible one, or with --registry kafka the embedded registry's topic through Kafka):

  sluice schemas subjects                   the subjects
  sluice schemas versions SUBJECT           a subject's versions
  sluice schemas get SUBJECT [VERSION]      a subject's schema (default: the latest version)
  sluice schemas get --id ID                the schema with that id
  sluice schemas config                     the global compatibility level
  sluice schemas config SUBJECT             a subject's level (the global one when it has none)
  sluice schemas config SUBJECT LEVEL       set it: BACKWARD, BACKWARD_TRANSITIVE, FORWARD,
                                            FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE or NONE`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if kf.timeout <= 0 {
				return fmt.Errorf("--timeout %v: want a positive duration", kf.timeout)
			}
			ctx, cancel := contextWithTimeout(cmd, kf.timeout)
			defer cancel()
			conn, err := rf.open(ctx, &kf)
			if err != nil {
				return err
			}
			defer conn.close()
			return runSchemas(ctx, cmd, conn, output, id, args)
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	cmd.Flags().IntVar(&id, "id", 0, "get: the schema with this id")
	cmd.Flags().StringVarP(&output, "output", "o", outputTable, "table (for people) or json (the registry's answer, for scripts)")
	return cmd
}

func runSchemas(ctx context.Context, cmd *cobra.Command, conn *registryConn, output string, id int, args []string) error {
	w := cmd.OutOrStdout()
	var raw json.RawMessage
	asJSON := func() error { return writeRawJSON(w, raw) }
	subject := func(i int) string { return url.PathEscape(args[i]) }
	switch verb, n := args[0], len(args)-1; {
	case verb == "subjects" && n == 0:
		var subjects []string
		if err := conn.do(ctx, http.MethodGet, "/subjects", nil, &subjects, &raw); err != nil {
			return err
		}
		if output == outputJSON {
			return asJSON()
		}
		for _, s := range subjects {
			fmt.Fprintln(w, s)
		}
		return nil
	case verb == "versions" && n == 1:
		var versions []int
		if err := conn.do(ctx, http.MethodGet, "/subjects/"+subject(1)+"/versions", nil, &versions, &raw); err != nil {
			return err
		}
		if output == outputJSON {
			return asJSON()
		}
		for _, v := range versions {
			fmt.Fprintln(w, v)
		}
		return nil
	case verb == "get" && (n == 1 || n == 2) && id == 0, verb == "get" && n == 0 && id > 0:
		path := fmt.Sprintf("/schemas/ids/%d", id)
		if n > 0 {
			version := "latest"
			if n == 2 {
				if _, err := strconv.Atoi(args[2]); err != nil && args[2] != "latest" {
					return fmt.Errorf("version %q: want a number or latest", args[2])
				}
				version = args[2]
			}
			path = "/subjects/" + subject(1) + "/versions/" + version
		}
		var s struct {
			Subject    string `json:"subject"`
			Version    int    `json:"version"`
			ID         int    `json:"id"`
			SchemaType string `json:"schemaType"`
			Schema     string `json:"schema"`
		}
		if err := conn.do(ctx, http.MethodGet, path, nil, &s, &raw); err != nil {
			return err
		}
		if output == outputJSON {
			return asJSON()
		}
		if s.SchemaType == "" {
			s.SchemaType = "AVRO"
		}
		if s.ID == 0 {
			s.ID = id
		}
		if s.Subject != "" {
			fmt.Fprintf(w, "subject %s version %d id %d (%s)\n", s.Subject, s.Version, s.ID, s.SchemaType)
		} else {
			fmt.Fprintf(w, "id %d (%s)\n", s.ID, s.SchemaType)
		}
		var pretty bytes.Buffer
		if json.Indent(&pretty, []byte(s.Schema), "", "  ") == nil {
			s.Schema = pretty.String()
		}
		fmt.Fprintln(w, s.Schema)
		return nil
	case verb == "config" && n <= 1:
		path := "/config"
		if n == 1 {
			path += "/" + subject(1) + "?defaultToGlobal=true"
		}
		var c struct {
			Level string `json:"compatibilityLevel"`
		}
		if err := conn.do(ctx, http.MethodGet, path, nil, &c, &raw); err != nil {
			return err
		}
		if output == outputJSON {
			return asJSON()
		}
		fmt.Fprintln(w, c.Level)
		return nil
	case verb == "config" && n == 2:
		level := strings.ToUpper(args[2])
		var c struct {
			Level string `json:"compatibility"`
		}
		if err := conn.do(ctx, http.MethodPut, "/config/"+subject(1), map[string]string{"compatibility": level}, &c, &raw); err != nil {
			return err
		}
		if output == outputJSON {
			return asJSON()
		}
		fmt.Fprintf(w, "subject %s: compatibility %s\n", args[1], c.Level)
		return nil
	}
	return errors.New("usage: sluice schemas subjects | versions SUBJECT | get SUBJECT [VERSION] | get --id ID | config [SUBJECT [LEVEL]]")
}

// openRegistryLog opens the embedded registry's topic on Kafka at addrs with the pipeline's TLS and SASL
// (SLUICE_KAFKA_*); a missing topic is created with SLUICE_REPLICATION replicas (default 1), as a pipeline
// would create it.
func openRegistryLog(ctx context.Context, addrs []string, timeout time.Duration) (schemaregistry.Log, error) {
	auth, err := kafka.AuthFromEnv()
	if err != nil {
		return nil, err
	}
	if err := kafka.CheckAuth(ctx, addrs, auth, timeout); err != nil {
		return nil, err
	}
	replication := 1
	if v := os.Getenv("SLUICE_REPLICATION"); v != "" {
		if replication, err = strconv.Atoi(v); err != nil || replication < 1 {
			return nil, fmt.Errorf("SLUICE_REPLICATION: %q is not a replication factor", v)
		}
	}
	return registrylog.Open(ctx, kafka.Settings{Brokers: addrs, ClientID: "sluice-cli", Auth: auth}, schemaregistry.DefaultTopic, int16(replication))
}
