package mysql_test

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/sources/mysql"
	"github.com/sluicehq/sluice/topology"
)

// With HeartbeatInterval set, the source writes a heartbeat to HeartbeatTopic whenever that long passed
// without a change of a captured table, so that its saved position follows the server; the topology must
// declare the topic (Validate names it otherwise). RetentionWarnMargin is when the binlog-retention guard
// starts warning that the binlog the task still needs is about to be purged.
func ExampleSource_HeartbeatTopic() {
	src, err := mysql.New(mysql.Config{
		DSN:                 "cdc:secret@tcp(127.0.0.1:3306)/",
		ServerID:            4242,
		Tables:              []string{"shop.orders"},
		SchemaChanges:       new(bool),
		HeartbeatInterval:   10 * time.Second,
		HeartbeatQuery:      "INSERT INTO hb.beat (id, ts) VALUES (1, NOW(6)) ON DUPLICATE KEY UPDATE ts = NOW(6)",
		RetentionWarnMargin: 6 * time.Hour,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	t := topology.New("shop")
	t.Topic(src.Topic("shop.orders"), topology.KeyCodec("json"), topology.ValueCodec("json"))
	t.Source("cdc", src).ToRecordTopics()
	fmt.Println(t.Validate())

	t.Topic(src.HeartbeatTopic(), topology.KeyCodec("json"), topology.ValueCodec("json"))
	fmt.Println(t.Validate())
	// Output:
	// invalid topology "shop": source "cdc": topic "__sluice-heartbeat.sluice" is not declared (the MySQL source's HeartbeatTopic: Config.HeartbeatInterval is set): declare it with Topic
	// <nil>
}
