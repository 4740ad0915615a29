// Command sluice is the operator's tool: commands over a running pipeline's operator API (pipelines, status,
// pause, resume, stop, restart, offsets), Kafka's topics and records (topics, tail), ad-hoc pipelines from
// built-in connectors (run), a standalone embedded broker for local multi-replica development, the stored
// positions of a pipeline's sources, and an Elasticsearch-compatible server for examples.
//
//	sluice pipelines [--url http://127.0.0.1:8083] [-o json]
//	sluice status NAME [-o json]
//	sluice pause|resume|stop NAME
//	sluice restart NAME [--flow F | --source S [--task T]]
//	sluice offsets get|set|reset NAME
//	sluice topics [--brokers 127.0.0.1:9092]
//	sluice tail TOPIC [--codec json] [-f] [--from beginning|end] [-n 10]
//	sluice run --name orders-es --from mysql --mysql-dsn 'user:pw@tcp(127.0.0.1:3306)/' --tables shop.orders \
//	    --to elasticsearch --es-url http://127.0.0.1:9200 --index orders
//	sluice broker --addr 127.0.0.1:9092 --data-dir ./sluice-data
//	sluice positions --brokers 127.0.0.1:9092 --pipeline file-to-file --source files
//	sluice es serve --addr 127.0.0.1:9200 [--data-dir D]
//
// API commands take --url (default $SLUICE_API_URL or http://127.0.0.1:8083), --token (default
// $SLUICE_API_TOKEN, sent as a bearer token) and --ca-file for an https URL signed by a private CA (default
// $SLUICE_API_CA_FILE), and Kafka commands --brokers
// (default $SLUICE_BROKERS or 127.0.0.1:9092); each call has a deadline (--timeout, 10s) and Ctrl-C stops
// it. An error answer of the API is printed as its message and the command exits with status 1.
//
// Schema registry commands (`sluice schemas subjects`, `versions SUBJECT`, `get SUBJECT [VERSION]`,
// `get --id ID`, `config [SUBJECT [LEVEL]]`) and `sluice tail --codec avro` take --registry: a registry's URL
// (default $SLUICE_SCHEMA_REGISTRY_URL, else the pipeline's operator API, which serves the embedded
// registry), or "kafka" for the embedded registry's topic _sluice_schemas read and written through Kafka at
// --brokers, which needs no running pipeline.
//
// Dead-letter commands (`sluice dlq list NAME`, `show NAME [--stage S] [--error TEXT] [--since T] [--values]`,
// `replay NAME [filters] [--include-quarantined] [--wait]`) count a pipeline's dead letters by state, list
// their lineage, and re-inject them where they failed once the cause is fixed, through the operator API.
//
// `sluice rebuild NAME --flow F` refills a flow's index behind its alias without downtime; `sluice rewind
// NAME --flow F (--to-time T | --to-offset N | --to earliest|latest) [--dry-run]` sets a stopped flow back
// to an offset or a time (Kafka's ListOffsets by timestamp), so that it processes its topic again from there
// once resumed. `sluice snapshot NAME --source S --table DB.TABLE [--where COND]` asks a running CDC source
// (the MySQL source with a signal table) to copy tables again while it keeps streaming: an incremental
// snapshot.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/sluicehq/sluice/secret"
	"github.com/sluicehq/sluice/topology"
)

func main() {
	ctx, stop := topology.SignalContext(context.Background()) // a second signal exits at once
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "sluice:", errorText(err))
		var coded interface{ ExitCode() int } // sluice verify: 1 differences, 2 error
		if errors.As(err, &coded) {
			os.Exit(coded.ExitCode())
		}
		os.Exit(1)
	}
}

// errorText is what the command prints for err: an operator API's refusal as its own message with the
// HTTP status after it ("pipeline x is RUNNING on replica r: stop it first (409)"), anything else as it is.
func errorText(err error) string {
	var apiErr *opsapi.Error
	if errors.As(err, &apiErr) {
		return secret.Redact(fmt.Sprintf("%s (%d)", apiErr.Message, apiErr.ErrorCode))
	}
	return secret.Redact(err.Error())
}
