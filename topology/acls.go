package topology

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/kafka"
)

// ACL is one Kafka access control entry a pipeline's principal needs, in Kafka's own words (the fields of
// kafka-acls.sh and of the CreateAcls request).
type ACL struct {
	// ResourceType is TOPIC, GROUP, TRANSACTIONAL_ID or CLUSTER.
	ResourceType string `json:"resource_type"`
	// PatternType is LITERAL or PREFIXED.
	PatternType string `json:"pattern_type"`
	// Name is the topic, group or transactional id; "kafka-cluster" for the cluster.
	Name string `json:"name"`
	// Operation is READ, WRITE, CREATE, DELETE, DESCRIBE, DESCRIBE_CONFIGS or IDEMPOTENT_WRITE.
	Operation string `json:"operation"`
	// Permission is ALLOW.
	Permission string `json:"permission"`
	// Principal is the principal as Kafka names it, e.g. "User:sluice".
	Principal string `json:"principal"`
	// Host is the client host the entry applies to: "*".
	Host string `json:"host"`
	// Why says what of the pipeline uses it (e.g. `flow "index" reads its input`).
	Why string `json:"why"`
	// OperatorOnly is true for an entry that only an operator action needs (pause, resume, stop, restart,
	// offset changes): the pipeline starts and runs without it, and that action fails naming it.
	OperatorOnly bool `json:"operator_only,omitempty"`
}

// Resource types, pattern types and operations of ACL, as Kafka names them.
const (
	ResourceTopic           = "TOPIC"
	ResourceGroup           = "GROUP"
	ResourceTransactionalID = "TRANSACTIONAL_ID"
	ResourceCluster         = "CLUSTER"

	PatternLiteral  = "LITERAL"
	PatternPrefixed = "PREFIXED"

	OpRead            = "READ"
	OpWrite           = "WRITE"
	OpCreate          = "CREATE"
	OpDelete          = "DELETE"
	OpDescribe        = "DESCRIBE"
	OpDescribeConfigs = "DESCRIBE_CONFIGS"
	OpIdempotentWrite = "IDEMPOTENT_WRITE"
)

// ACLs returns the Kafka ACLs that principal ("User:x"; "User:" is added when missing) needs to run the
// pipeline, and nothing more: every entry is one that a request of the engine checks, so that with any
// start-up entry missing RunWith fails naming it. Entries are sorted by resource type, name and operation,
// with no duplicates. Derived from the declaration and EngineNames:
//
//   - every topic the engine creates at start-up (declared topics, control, table, loop, step output,
//     status and commands topics): CREATE. A topic that an administrator created beforehand no longer needs
//     it; the engine asks only for missing topics.
//   - topics it reads (a flow's or step's input, a table's topic, control topics, goka's table and loop
//     topics, the status and commands topics): READ; topics it writes (a source's topic, or every declared
//     topic but the dead-letter ones for a source routing records by their own topic; dead-letter topics,
//     a flow's output topic, step outputs, goka's table and loop topics, control and status topics): WRITE.
//     Kafka implies DESCRIBE from READ and WRITE, so DESCRIBE is never listed beside them (listing it would
//     be an entry whose removal changes nothing).
//   - for a source's ToRecordTopics NewTopics prefix: CREATE and WRITE on the prefix, PREFIXED (the topics
//     are created at run time; start-up does not check these entries).
//   - DESCRIBE_CONFIGS on the topics whose max.message.bytes start-up reads (every declared topic and step
//     output) and on goka's table and loop topics (goka's topic manager reads their configuration).
//   - every consumer group (sources, flows, stateful steps): READ, which implies DESCRIBE.
//   - the commands topic's WRITE and the flow and step groups' DELETE (offset resets) are OperatorOnly.
//   - when a topic's codec needs a schema registry (avro): CREATE, READ and WRITE on the embedded registry's
//     topic _sluice_schemas (start-up skips checking them when SLUICE_SCHEMA_REGISTRY_URL names an external
//     registry, which needs none).
//
// Not needed, and so not listed: IDEMPOTENT_WRITE on the cluster (the producers are idempotent, but since
// Kafka 3.0 WRITE on any topic authorises an idempotent producer, KIP-679), DESCRIBE on the cluster (the
// cluster id comes with metadata, which needs no ACL), transactional ids (no producer is transactional).
func (t *Topology) ACLs(principal string) []ACL {
	if principal == "" {
		principal = "User:ANONYMOUS"
	}
	if !strings.Contains(principal, ":") {
		principal = "User:" + principal
	}
	type key struct{ typ, name, op string }
	seen := map[key]int{}
	var out []ACL
	add := func(typ, name, op, why string, operatorOnly bool) {
		k := key{typ, name, op}
		if i, ok := seen[k]; ok {
			if !operatorOnly {
				out[i].OperatorOnly = false
			}
			return
		}
		seen[k] = len(out)
		out = append(out, ACL{ResourceType: typ, PatternType: PatternLiteral, Name: name, Operation: op,
			Permission: "ALLOW", Principal: principal, Host: "*", Why: why, OperatorOnly: operatorOnly})
	}
	topic := func(name, op, why string) { add(ResourceTopic, name, op, why, false) }
	group := func(name, why string) { add(ResourceGroup, name, OpRead, why, false) }

	deadLetters := map[*Topic]bool{}
	for _, s := range t.sources {
		if s.deadLetter != nil {
			deadLetters[s.deadLetter] = true
		}
	}
	for _, f := range t.flows {
		if f.deadLetter != nil {
			deadLetters[f.deadLetter] = true
		}
	}

	status, commands := statusTopic(t.name), commandsTopic(t.name)
	topic(status, OpCreate, "start-up creates the status topic")
	topic(status, OpRead, "every replica reads the others' status")
	topic(status, OpWrite, "every replica publishes its status")
	topic(commands, OpCreate, "start-up creates the commands topic")
	topic(commands, OpRead, "every replica follows the operator's commands")
	add(ResourceTopic, commands, OpWrite, "the operator API's pause, resume, stop and restart", true)
	for _, n := range t.EngineNames() {
		if n.Kind != TopicName || n.owner.kind != "pipeline" || n.Name == status || n.Name == commands {
			continue
		}
		// Another pipeline-wide topic (the audit topic): created at start-up, whose metadata start-up then
		// waits for (DESCRIBE, implied by WRITE), written by operator actions.
		topic(n.Name, OpCreate, "start-up creates the "+n.Role)
		topic(n.Name, OpWrite, "operator actions write the "+n.Role+"; start-up reads its metadata")
	}
	if t.usesRegistry() { // schemas.go; not needed with an external registry (SLUICE_SCHEMA_REGISTRY_URL)
		why := "the embedded schema registry (a topic's codec needs one, SLUICE_SCHEMA_REGISTRY_URL is unset)"
		topic(registryTopic, OpCreate, "start-up creates "+why+"'s topic")
		topic(registryTopic, OpRead, why+" reads its schemas")
		topic(registryTopic, OpWrite, why+" registers new schemas")
	}
	for _, tp := range t.topics {
		topic(tp.name, OpCreate, "start-up creates declared topics that are missing")
		topic(tp.name, OpDescribeConfigs, "start-up reads max.message.bytes of every declared topic")
	}
	for _, s := range t.sources {
		g := sourceGroup(t.name, s.name)
		who := fmt.Sprintf("source %q", s.name)
		group(g, who+": its processor's consumer group")
		ctl, table := controlTopic(t.name, s.name), tableTopic(g)
		topic(ctl, OpCreate, "start-up creates "+who+"'s control topic")
		topic(ctl, OpRead, who+": its processor reads the control topic")
		topic(ctl, OpWrite, who+": its tasks send positions to the control topic")
		topic(table, OpCreate, "start-up creates "+who+"'s position table")
		topic(table, OpRead, who+": goka recovers the position table")
		topic(table, OpWrite, who+": goka saves positions in the table")
		topic(table, OpDescribeConfigs, who+": goka's topic manager checks the table's configuration")
		switch {
		case s.to != nil:
			topic(s.to.name, OpWrite, who+" writes its records")
		case s.recordTopics:
			for _, tp := range t.topics {
				if !deadLetters[tp] {
					topic(tp.name, OpWrite, who+" writes each record to the topic it names")
				}
			}
			for _, nt := range s.newTopics { // newtopics.go: topics created at run time under the prefix
				for _, op := range []string{OpCreate, OpWrite} {
					out = append(out, ACL{ResourceType: ResourceTopic, PatternType: PatternPrefixed, Name: nt.prefix, Operation: op,
						Permission: "ALLOW", Principal: principal, Host: "*", Why: who + " creates and writes the topics its records name under the NewTopics prefix"})
				}
			}
		}
		if s.deadLetter != nil {
			topic(s.deadLetter.name, OpWrite, who+" sets records aside")
		}
	}
	for _, tb := range t.tables {
		if tb.from != nil {
			topic(tb.from.name, OpRead, fmt.Sprintf("table %q reads its topic (in each join's group)", tb.name))
		}
	}
	joins, flows := t.compileFlows()
	for _, j := range joins {
		who := fmt.Sprintf("flow %q stateful step %q", j.flowName, j.out.step)
		group(j.group, who+": its consumer group")
		add(ResourceGroup, j.group, OpDelete, who+": the operator API's offset reset", true)
		topic(j.in.name, OpRead, who+" reads its input")
		if j.table != nil && j.table.from != nil {
			topic(j.table.from.name, OpRead, who+" reads the table's topic")
		}
		loop, table := loopTopic(j.group), tableTopic(j.group)
		topic(j.out.name, OpCreate, "start-up creates "+who+"'s output topic")
		topic(j.out.name, OpWrite, who+" writes its output")
		topic(j.out.name, OpDescribeConfigs, "start-up reads max.message.bytes of "+who+"'s output")
		topic(loop, OpCreate, "start-up creates "+who+"'s loop topic")
		topic(loop, OpRead, who+": goka reads its loop topic")
		topic(loop, OpWrite, who+": goka writes its loop topic")
		topic(loop, OpDescribeConfigs, who+": goka's topic manager checks the loop topic's configuration")
		topic(table, OpCreate, "start-up creates "+who+"'s state table")
		topic(table, OpRead, who+": goka recovers its state table")
		topic(table, OpWrite, who+": goka saves its state")
		topic(table, OpDescribeConfigs, who+": goka's topic manager checks the table's configuration")
		if j.deadLetters != nil {
			topic(j.deadLetters.name, OpWrite, who+" sets records aside")
		}
	}
	for _, f := range flows {
		who := fmt.Sprintf("flow %q", f.name)
		g := flowGroup(t.name, f.name)
		group(g, who+": its consumer group")
		add(ResourceGroup, g, OpDelete, who+": the operator API's offset reset", true)
		if f.from != nil {
			topic(f.from.name, OpRead, who+" reads its input")
		}
		if f.toTopic != nil {
			topic(f.toTopic.name, OpWrite, who+" writes its output topic")
		}
		if f.deadLetter != nil {
			topic(f.deadLetter.name, OpWrite, who+" sets records aside")
		}
	}
	t.redriveACLs(topic, func(name, op, why string) { add(ResourceTopic, name, op, why, true) }) // redrive.go
	slices.SortStableFunc(out, func(a, b ACL) int {
		if c := strings.Compare(resourceOrder(a.ResourceType), resourceOrder(b.ResourceType)); c != 0 {
			return c
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Operation, b.Operation)
	})
	return out
}

func resourceOrder(typ string) string {
	switch typ {
	case ResourceCluster:
		return "0"
	case ResourceTopic:
		return "1"
	case ResourceGroup:
		return "2"
	}
	return "3" + typ
}

// KafkaACLsCommand returns the kafka-acls.sh command line that adds a (bootstrap is the --bootstrap-server
// value; "BROKERS" when empty).
func (a ACL) KafkaACLsCommand(bootstrap string) string {
	if bootstrap == "" {
		bootstrap = "BROKERS"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "kafka-acls.sh --bootstrap-server %s --add --allow-principal %s", bootstrap, a.Principal)
	if a.Host != "" && a.Host != "*" {
		fmt.Fprintf(&b, " --allow-host %s", a.Host)
	}
	fmt.Fprintf(&b, " --operation %s %s", aclOperationWord(a.Operation), a.resourceFlag())
	if a.PatternType == PatternPrefixed {
		b.WriteString(" --resource-pattern-type prefixed")
	}
	return b.String()
}

// resourceFlag is the resource as kafka-acls.sh takes it.
func (a ACL) resourceFlag() string {
	switch a.ResourceType {
	case ResourceTopic:
		return "--topic " + a.Name
	case ResourceGroup:
		return "--group " + a.Name
	case ResourceTransactionalID:
		return "--transactional-id " + a.Name
	}
	return "--cluster"
}

// String says the entry in words: "Write on topic shop.orders".
func (a ACL) String() string {
	res := strings.ToLower(strings.ReplaceAll(a.ResourceType, "_", " "))
	if a.ResourceType == ResourceCluster {
		return aclOperationWord(a.Operation) + " on the cluster"
	}
	s := fmt.Sprintf("%s on %s %s", aclOperationWord(a.Operation), res, a.Name)
	if a.PatternType == PatternPrefixed {
		s += " (prefixed)"
	}
	return s
}

// aclOperationWord is kafka-acls.sh's word for an operation: READ -> Read, DESCRIBE_CONFIGS -> DescribeConfigs.
func aclOperationWord(op string) string {
	var b strings.Builder
	for _, part := range strings.Split(strings.ToLower(op), "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// serveACLs answers GET /pipelines/{name}/acls?principal=User:x with the pipeline's ACLs (see
// Topology.ACLs) as JSON; without principal they are those of User:ANONYMOUS.
func (p *pipelineRun) serveACLs(w http.ResponseWriter, r *http.Request) {
	if !p.knownPipeline(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, p.t.ACLs(r.URL.Query().Get("principal")))
}

// authorizationKErrors are Kafka's answers that a principal lacks an ACL. They are never transient:
// retrying cannot help until an administrator adds the ACL.
var authorizationKErrors = []sarama.KError{
	sarama.ErrTopicAuthorizationFailed,
	sarama.ErrGroupAuthorizationFailed,
	sarama.ErrClusterAuthorizationFailed,
	sarama.ErrTransactionalIDAuthorizationFailed,
}

// ErrNotAuthorized is wrapped by the error RunWith returns when Kafka refused the pipeline's principal an
// operation (TOPIC_, GROUP_, CLUSTER_ or TRANSACTIONAL_ID_AUTHORIZATION_FAILED) during start-up or first
// use. The error names the ACL in kafka-acls.sh words.
var ErrNotAuthorized = errors.New("not authorized by Kafka")

// authorizationKError returns the authorization error that err is or whose text names (goka flattens
// sarama's errors into its messages).
func authorizationKError(err error) (sarama.KError, bool) {
	if err == nil {
		return 0, false
	}
	var ke sarama.KError
	if errors.As(err, &ke) && slices.Contains(authorizationKErrors, ke) {
		return ke, true
	}
	msg := err.Error()
	for _, k := range authorizationKErrors {
		if strings.Contains(msg, k.Error()) {
			return k, true
		}
	}
	return 0, false
}

// missingACL turns an authorization failure into an error naming the ACL the principal lacks, chosen from
// the pipeline's ACLs by the kind of refusal and the resource names the error's text mentions (the longest
// name that matches, so that a topic's "-table" is told from the topic). When the text names no resource,
// the candidates of that kind are listed. Other errors come back unchanged.
func (t *Topology) missingACL(err error, principal string) error {
	ke, ok := authorizationKError(err)
	if !ok || errors.Is(err, ErrNotAuthorized) {
		return err
	}
	var typ string
	switch ke {
	case sarama.ErrTopicAuthorizationFailed:
		typ = ResourceTopic
	case sarama.ErrGroupAuthorizationFailed:
		typ = ResourceGroup
	case sarama.ErrClusterAuthorizationFailed:
		typ = ResourceCluster
	default:
		typ = ResourceTransactionalID
	}
	if principal == "" {
		principal = "User:PRINCIPAL" // not known to the client (OAUTHBEARER, TLS certificates)
	}
	acls := t.ACLs(principal)
	msg := err.Error()
	var named []ACL
	best := 0
	for _, a := range acls {
		if a.ResourceType != typ || a.OperatorOnly || !mentions(msg, a.Name) {
			continue
		}
		if len(a.Name) > best {
			best, named = len(a.Name), nil
		}
		if len(a.Name) == best {
			named = append(named, a)
		}
	}
	if op := requestOperation(msg); op != "" {
		var match []ACL
		for _, a := range named {
			// DESCRIBE is implied by READ and WRITE: a refused metadata request lacks the one listed.
			if a.Operation == op || op == OpDescribe && (a.Operation == OpRead || a.Operation == OpWrite) {
				match = append(match, a)
			}
		}
		if len(match) > 0 {
			named = match
		}
	}
	if len(named) == 1 {
		a := named[0]
		return fmt.Errorf("%w: principal %s lacks %s: add it with %s (see sluice acls %s): %w",
			ErrNotAuthorized, a.Principal, a, a.KafkaACLsCommand(""), t.name, err)
	}
	var candidates []string
	for _, a := range named {
		candidates = append(candidates, a.String())
	}
	if len(candidates) == 0 {
		for _, a := range acls {
			if a.ResourceType == typ && !a.OperatorOnly {
				candidates = append(candidates, a.String())
			}
		}
	}
	return fmt.Errorf("%w: Kafka refused principal %s: it lacks one of %s; add the missing one with kafka-acls.sh (sluice acls %s prints the whole set): %w",
		ErrNotAuthorized, principal, strings.Join(candidates, ", "), t.name, err)
}

// mentions reports whether msg names name as a whole word (not as a prefix of a longer name).
func mentions(msg, name string) bool {
	for i := 0; ; {
		j := strings.Index(msg[i:], name)
		if j < 0 {
			return false
		}
		end := i + j + len(name)
		if end == len(msg) || !isNameByte(msg[end]) || msg[end] == '.' && (end+1 == len(msg) || !isNameByte(msg[end+1])) {
			return true
		}
		i = i + j + 1
	}
}

func isNameByte(c byte) bool {
	return c == '.' || c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// requestOperation guesses the operation from the words the engine's errors use for a request.
func requestOperation(msg string) string {
	switch {
	case strings.Contains(msg, "create topic"):
		return OpCreate
	case strings.Contains(msg, "max.message.bytes"), strings.Contains(msg, "getting config"):
		return OpDescribeConfigs
	case strings.Contains(msg, "produce to"), strings.Contains(msg, "emit"):
		return OpWrite
	case strings.Contains(msg, "fetch"), strings.Contains(msg, "consum"):
		return OpRead
	case strings.Contains(msg, "metadata"), strings.Contains(msg, " on broker "):
		return OpDescribe
	}
	return ""
}

// principal is the Kafka principal the pipeline connects as, as far as the client knows it: User:<name>
// for SASL PLAIN and SCRAM, User:ANONYMOUS without SASL, "" (unknown: the broker maps the token or
// certificate) for OAUTHBEARER and TLS client certificates.
func (p *pipelineRun) principal() string {
	sec := p.settings.Auth.Security()
	switch {
	case sec.SASLUsername != "" && sec.SASLMechanism != kafka.SASLOAuthBearer:
		return "User:" + sec.SASLUsername
	case sec.SASLMechanism == "" && sec.TLSCertFile == "":
		return "User:ANONYMOUS"
	}
	return ""
}

// aclOperationBits are Kafka's numbers of the operations ACL uses, the bit positions of the authorized
// operations that Metadata (topics) and DescribeGroups (groups) answer with (KIP-430).
var aclOperationBits = map[string]uint{
	OpRead: 3, OpWrite: 4, OpCreate: 5, OpDelete: 6, OpDescribe: 8, OpDescribeConfigs: 10, OpIdempotentWrite: 12,
}

// checkACLs asks Kafka, right after the topics exist and before anything reads or writes, which operations
// the pipeline's principal may perform on every topic and consumer group it uses (the authorized
// operations of KIP-430: one metadata request for the topics, one find-coordinator and describe-groups
// request per group), and fails naming every start-up ACL of Topology.ACLs that is missing, each with its
// kafka-acls.sh command. Without this check a missing READ or WRITE would show only later, as fetch or
// produce errors that sarama and goka log and retry. CREATE is not checked (the topics exist by now:
// creating them was the check) and neither are OperatorOnly entries. Each request is answered within
// StartupTimeout. A broker that does not report authorized operations (older than Kafka 2.3) skips the
// check for what it does not report.
func (p *pipelineRun) checkACLs(ctx context.Context) error {
	principal := p.principal()
	shown := principal
	if shown == "" {
		shown = "User:PRINCIPAL"
	}
	need := map[string][]ACL{} // by resource type + name
	var topics, groups []string
	for _, a := range p.t.ACLs(shown) {
		if a.OperatorOnly || a.Operation == OpCreate || a.PatternType == PatternPrefixed || (a.Name == registryTopic && p.cfg.SchemaRegistryURL != "") {
			continue
		}
		k := a.ResourceType + " " + a.Name
		if need[k] == nil {
			switch a.ResourceType {
			case ResourceTopic:
				topics = append(topics, a.Name)
			case ResourceGroup:
				groups = append(groups, a.Name)
			}
		}
		need[k] = append(need[k], a)
	}
	cfg := kafka.StartupConfig(p.saramaConfig("sluice-acl-check"), p.cfg.StartupTimeout)
	client, err := kafka.Within(ctx, p.cfg.StartupTimeout, p.brokers, "a metadata request",
		func() (sarama.Client, error) { return sarama.NewClient(p.brokers, cfg) },
		func(c sarama.Client) { _ = c.Close() })
	if err != nil {
		return err
	}
	defer client.Close()

	var missing []ACL
	lacks := func(have int32, acls []ACL) {
		if have == math.MinInt32 { // not reported
			return
		}
		for _, a := range acls {
			if have&(1<<aclOperationBits[a.Operation]) == 0 {
				missing = append(missing, a)
			}
		}
	}
	if len(topics) > 0 {
		resp, err := kafka.Within(ctx, p.cfg.StartupTimeout, p.brokers, "a metadata request for the pipeline's topics",
			func() (*sarama.MetadataResponse, error) {
				b := client.LeastLoadedBroker()
				if b == nil {
					return nil, sarama.ErrOutOfBrokers
				}
				req := sarama.NewMetadataRequest(cfg.Version, topics)
				req.IncludeTopicAuthorizedOperations = true
				return b.GetMetadata(req)
			}, nil)
		if err != nil {
			return fmt.Errorf("check the pipeline's ACLs: %w", err)
		}
		for _, tm := range resp.Topics {
			if tm.Err == sarama.ErrTopicAuthorizationFailed {
				// Not even DESCRIBE, which READ and WRITE imply: each of those it needs is missing. Whether it
				// holds DESCRIBE_CONFIGS Kafka does not say here.
				var implying []ACL
				for _, a := range need[ResourceTopic+" "+tm.Name] {
					if a.Operation == OpRead || a.Operation == OpWrite {
						implying = append(implying, a)
					}
				}
				lacks(0, implying)
				continue
			}
			if resp.Version >= 8 {
				lacks(tm.TopicAuthorizedOperations, need[ResourceTopic+" "+tm.Name])
			}
		}
	}
	// A fresh cluster creates its offsets topic on the first find-coordinator request and answers
	// COORDINATOR_NOT_AVAILABLE meanwhile: retriable answers are asked again until StartupTimeout.
	deadline := time.Now().Add(p.cfg.StartupTimeout)
	for _, g := range groups {
		var desc *sarama.GroupDescription
		var err error
		for attempt := 0; ; attempt++ {
			desc, err = describeGroup(ctx, max(time.Until(deadline), time.Millisecond), p.brokers, client, g)
			if err == nil || !kafka.Retriable(err) || !kafka.RetryWait(ctx, attempt, deadline) {
				break
			}
		}
		switch {
		case err == nil:
			lacks(desc.AuthorizedOperations, need[ResourceGroup+" "+g])
		case errors.Is(err, sarama.ErrGroupAuthorizationFailed):
			lacks(0, need[ResourceGroup+" "+g])
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			return fmt.Errorf("check the pipeline's ACLs: group %q: %w", g, err)
		}
	}
	if len(missing) == 0 {
		p.log.Debug("ACLs checked", "principal", shown, "topics", len(topics), "groups", len(groups))
		return nil
	}
	return missingACLsError(p.t.name, missing)
}

// describeGroup describes group g with its authorized operations: one find-coordinator request (not
// client.Coordinator: sarama retries a refused one) and one describe-groups request, within timeout.
func describeGroup(ctx context.Context, timeout time.Duration, brokers []string, client sarama.Client, g string) (*sarama.GroupDescription, error) {
	return kafka.Within(ctx, timeout, brokers, fmt.Sprintf("a describe-groups request for group %q", g),
		func() (*sarama.GroupDescription, error) {
			// One find-coordinator request, not client.Coordinator: sarama retries a refused one.
			b := client.LeastLoadedBroker()
			if b == nil {
				return nil, sarama.ErrOutOfBrokers
			}
			found, err := b.FindCoordinator(&sarama.FindCoordinatorRequest{Version: 2, CoordinatorKey: g, CoordinatorType: sarama.CoordinatorGroup})
			if err != nil {
				return nil, err
			}
			if found.Err != sarama.ErrNoError {
				return nil, found.Err
			}
			coordinator, err := client.Broker(found.Coordinator.ID())
			if err != nil {
				return nil, err
			}
			resp, err := coordinator.DescribeGroups(&sarama.DescribeGroupsRequest{Version: 3, Groups: []string{g}, IncludeAuthorizedOperations: true})
			if err != nil {
				return nil, err
			}
			if len(resp.Groups) != 1 {
				return nil, fmt.Errorf("Kafka described %d groups for %q", len(resp.Groups), g)
			}
			if resp.Groups[0].Err != sarama.ErrNoError {
				return nil, resp.Groups[0].Err
			}
			return resp.Groups[0], nil
		}, nil)
}

// missingACLsError names each missing ACL with the command that adds it.
func missingACLsError(pipeline string, missing []ACL) error {
	var parts []string
	for _, a := range missing {
		parts = append(parts, fmt.Sprintf("principal %s lacks %s (%s): add it with %s", a.Principal, a, a.Why, a.KafkaACLsCommand("")))
	}
	return fmt.Errorf("%w: %s (see sluice acls %s)", ErrNotAuthorized, strings.Join(parts, "; "), pipeline)
}
