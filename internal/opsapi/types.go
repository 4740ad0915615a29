// Package opsapi holds the JSON shapes of the operator API that every Sluice pipeline binary serves on
// SLUICE_HTTP_ADDR (see topology's package doc and docs/api.md), and a client for it that the sluice CLI
// and the tests use. It imports only the standard library.
package opsapi

import (
	"encoding/json"
	"time"
)

// Pipeline states, as Kafka Connect names its connector and task states.
const (
	StateStarting = "STARTING" // processors not all running yet
	StateRunning  = "RUNNING"
	StatePaused   = "PAUSED"  // processors run; sources read nothing, sinks receive nothing
	StateStopped  = "STOPPED" // processors stopped (consumer groups left); offsets may be changed
	StateFailed   = "FAILED"
	// StateUnassigned is a task or partition no live replica holds (moving between replicas, or none runs).
	StateUnassigned = "UNASSIGNED"
)

// Error is the body of every non-2xx answer (Kafka Connect's shape).
type Error struct {
	ErrorCode int    `json:"error_code"` // the HTTP status
	Message   string `json:"message"`
}

// Root is GET /.
type Root struct {
	Version   string   `json:"version"`
	Commit    string   `json:"commit"`
	ClusterID string   `json:"kafka_cluster_id"`
	Replica   string   `json:"replica"`
	Pipelines []string `json:"pipelines"`
}

// Pipeline is GET /pipelines/{name}: the declaration.
type Pipeline struct {
	Name    string   `json:"name"`
	Sources []Source `json:"sources"`
	Flows   []Flow   `json:"flows"`
	Tables  []Table  `json:"tables,omitempty"`
	// Topics are every topic the pipeline reads or writes, engine topics included.
	Topics []Topic `json:"topics"`
}

// Source is a declared source.
type Source struct {
	Name      string   `json:"name"`
	Connector string   `json:"connector"` // e.g. "mysql", "file"
	Topic     string   `json:"topic"`     // or "" when it routes to several (see Topics)
	Topics    []string `json:"topics,omitempty"`
	Stages    []string `json:"stages,omitempty"` // ETL stages before Kafka, in order
	Group     string   `json:"group"`
}

// Flow is a declared flow: a topic through stages and stateful steps into a sink or a topic.
type Flow struct {
	Name    string `json:"name"`
	Topic   string `json:"topic"`
	Steps   []Step `json:"steps"` // stages and stateful steps in order
	Sink    string `json:"sink,omitempty"`
	ToTopic string `json:"to_topic,omitempty"`
	Group   string `json:"group"`
}

// Step is one stage (kind "stage") or stateful step (kind "join" or "keyed") of a flow.
type Step struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Table string `json:"table,omitempty"` // a join's table
	Group string `json:"group,omitempty"` // a stateful step's consumer group
}

// Table is a declared table (Topology.Table).
type Table struct {
	Name   string   `json:"name"`
	Topic  string   `json:"topic"`
	Stages []string `json:"stages,omitempty"`
}

// Topic is a topic the pipeline uses.
type Topic struct {
	Name  string `json:"name"`
	Role  string `json:"role"` // "source output", "control topic", "position table", "step loop", ...
	Codec string `json:"codec,omitempty"`
}

// Status is GET /pipelines/{name}/status: the state every live replica published, merged.
type Status struct {
	Name string `json:"name"`
	// State is the pipeline's target state (RUNNING, PAUSED, STOPPED) unless a replica failed (FAILED) or
	// some replica has not reached it yet (STARTING).
	State      string            `json:"state"`
	Replicas   []ReplicaStatus   `json:"replicas"`
	Tasks      []TaskStatus      `json:"tasks"`      // source tasks
	Partitions []PartitionStatus `json:"partitions"` // flow and stateful-step partitions
}

// ReplicaStatus is what one replica publishes (on its status topic, compacted, keyed by replica id).
type ReplicaStatus struct {
	ID         string            `json:"id"`
	State      string            `json:"state"`
	HTTPAddr   string            `json:"http_addr,omitempty"`
	Updated    time.Time         `json:"updated"`
	Error      string            `json:"error,omitempty"`
	Tasks      []TaskStatus      `json:"tasks,omitempty"`
	Partitions []PartitionStatus `json:"partitions,omitempty"`
	// Backpressure has one entry per flow with a backpressure policy other than BLOCK (issue 14).
	Backpressure []BackpressureStatus `json:"backpressure,omitempty"`
	// Rebuilds has the last rebuild of each flow this replica ran since it started (rebuild.go).
	Rebuilds []RebuildStatus `json:"rebuilds,omitempty"`
}

// BackpressureStatus is what a flow's backpressure policy did on one replica since it started: records
// dropped (DROP, BUFFER then DROP), coalesced (LATEST) and spilled to disk (BUFFER), and what waits now.
type BackpressureStatus struct {
	Flow           string `json:"flow,omitempty"`   // the flow, on edge "kafka-sink"
	Source         string `json:"source,omitempty"` // the source, on edge "source-kafka"
	Edge           string `json:"edge"`             // "kafka-sink" (a flow's topic to its sink) or "source-kafka"
	Mode           string `json:"mode"`             // ERROR, DROP, LATEST or BUFFER
	Dropped        int64  `json:"dropped"`
	Coalesced      int64  `json:"coalesced"`
	Spilled        int64  `json:"spilled"`
	Pending        int    `json:"pending"`         // records waiting in memory (a source's: messages Kafka has not answered)
	SpilledPending int    `json:"spilled_pending"` // records waiting in spill files
}

// TaskStatus is one source task.
type TaskStatus struct {
	Source    string `json:"source"`
	Task      string `json:"task"`
	State     string `json:"state"`
	Replica   string `json:"replica"`
	LastError string `json:"last_error,omitempty"`
	Stalled   bool   `json:"stalled"`
	// Lag is how far the task is behind its input when the source can tell (seconds behind the binlog,
	// bytes behind a file), with its unit; nil when unknown.
	Lag     *float64 `json:"lag,omitempty"`
	LagUnit string   `json:"lag_unit,omitempty"`
}

// PartitionStatus is one input partition of a flow or stateful step.
type PartitionStatus struct {
	Flow      string `json:"flow"`
	Step      string `json:"step,omitempty"` // a stateful step's name; "" for the flow's sink processor
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	State     string `json:"state"`
	Replica   string `json:"replica"`
	Offset    int64  `json:"offset"` // next offset to process
	Lag       int64  `json:"lag"`    // records behind the high-water mark
	LastError string `json:"last_error,omitempty"`
	Stalled   bool   `json:"stalled"`
}

// StateChange is the answer to PUT pause/resume/stop and POST restart (202 Accepted).
type StateChange struct {
	Name    string `json:"name"`
	Target  string `json:"target"` // the state every replica moves to
	Message string `json:"message"`
}

// Offsets is GET /pipelines/{name}/offsets and the body of PATCH (KIP-875's shape: a list of
// partition/offset pairs).
type Offsets struct {
	Offsets []Offset `json:"offsets"`
}

// Offset is one source task's position or one flow partition's committed offset.
//
// A source task: Partition {"kind":"source","source":S,"task":T}, Offset the task's saved position as the
// source encodes it (JSON). A flow or stateful-step partition: Partition {"kind":"flow","group":G,
// "topic":X,"partition":N}, Offset {"offset":O} (the next offset to process). In a PATCH, a null Offset
// deletes it (the task starts from its source's initial position; the partition from the flow's start
// offset).
type Offset struct {
	Partition OffsetPartition `json:"partition"`
	Offset    json.RawMessage `json:"offset"`
}

// OffsetPartition names what an Offset belongs to.
type OffsetPartition struct {
	Kind      string `json:"kind"` // "source" or "flow"
	Source    string `json:"source,omitempty"`
	Task      string `json:"task,omitempty"`
	Group     string `json:"group,omitempty"`
	Topic     string `json:"topic,omitempty"`
	Partition *int32 `json:"partition,omitempty"`
}

// Message is a 200 answer with only a message (PATCH and DELETE offsets).
type Message struct {
	Message string `json:"message"`
}
