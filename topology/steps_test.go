package topology_test

import (
	"strings"
	"testing"

	filesink "github.com/sluicehq/sluice/sinks/file"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/topology"
)

// Validate reports every mistake in a flow's stateful steps, each naming the flow and the step: names that
// cannot name a goka group, a nil step, a join without a table or a table without a join, a table of
// another topology.
func TestValidateStatefulSteps(t *testing.T) {
	sink, err := filesink.New(filesink.Config{Path: t.TempDir() + "/out"})
	if err != nil {
		t.Fatal(err)
	}
	count, _ := stages.Count("my count")
	join, _ := stages.LookupJoin("with customer", "customer_id", "customer")
	good, _ := stages.LookupJoin("with-customer", "customer_id", "customer")
	other := topology.New("other")
	foreign := other.Table("customers", other.Topic("customers"))

	tp := topology.New("p")
	in := tp.Topic("in")
	rows := tp.Table("rows", tp.Topic("rows"))
	tp.Flow("f").From(in).Keyed(count).Keyed(nil).Join(nil, join).Join(rows, nil).Join(foreign, good).To(sink)
	err = tp.Validate()
	if err == nil {
		t.Fatal("Validate accepted the flow")
	}
	for _, want := range []string{
		`flow "f": keyed step "my count": name: "my count" may contain only`,
		`flow "f": step 1: stateful step is nil`,
		`flow "f": join "with customer": name: "with customer" may contain only`,
		`flow "f": join "with customer": table is nil`,
		`flow "f": step 3: the join of table "rows" is nil`,
		`flow "f": join "with-customer": table "customers" is not declared on this topology`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate's error does not say %s:\n%v", want, err)
		}
	}
}
