package topology

import (
	"strconv"

	"github.com/sluicehq/sluice/stream"
)

// Versions through a join (stream.VersionHeader, "sluice.version").
//
// Sources that know where a change sits in their log (sources/mysql: its binlog position) put a version on
// every record; sinks that keep the newest version of a document (sinks/elasticsearch) use it to refuse
// replays and stale writes. A join's output is a function of two records, so its version comes from both:
// a table row's version travels with the row through the join's state (row state, refresh, home), and each
// output record carries
//
//	max(version of the record, version of the row it is joined with, the key's previous output version + 1)
//
// The first two make the output as new as the newest change it contains (both sides come from one source
// log, so a sink sees the document move forward with the source). The third keeps the versions of one
// key's outputs strictly increasing in the order the join emits them, which is the order of the key's
// states: without it, two outputs could share a version (the record changes after a newer row was joined
// in: the row's version is still the maximum, and the sink would refuse the second output as not newer),
// or go back (the record moves to another row whose last change is older than the previous row's). A side
// without the header counts as none; when neither side ever had one, outputs carry none and sinks fall back
// to Kafka offsets. A deleted record's tombstone takes the same rule; the home then keeps only its versions
// (see below), so a record re-created later continues above the tombstone.
//
// Stale inputs: a record older than the one its home applied last (a version below the home's record
// version), or a table row older than the one its row state holds, is dropped, so that a replay or a stale
// producer writing old changes into the join's inputs never sets the join back. A home keeps its record's
// version after a delete (a small state per deleted key, only when the records carry versions), so that
// an older copy cannot bring the record back. Inputs without a version are never dropped.
//
// A join replayed after a crash emits outputs again with versions above the ones before (the previous
// output version is in its state), so the last output of each key still wins.

// recordVersion returns the version a record carries (the last stream.VersionHeader), or 0 when it has none
// or it is not a decimal int64 above 0.
func recordVersion(headers []stream.Header) int64 {
	for i := len(headers) - 1; i >= 0; i-- {
		if headers[i].Key == stream.VersionHeader {
			v, err := strconv.ParseInt(string(headers[i].Value), 10, 64)
			if err != nil || v < 0 {
				return 0
			}
			return v
		}
	}
	return 0
}

// nextVersion returns the version of the home's next output of rec (see above), records it in st.Emitted,
// and returns rec's headers with it (a copy when it differs from rec's own). 0 and rec's headers: no
// version on either side, ever.
func nextVersion(st *joinState, rec *wireRecord) (int64, []stream.Header) {
	v := max(recordVersion(rec.Headers), st.RowVersion)
	if st.Emitted > 0 && v <= st.Emitted {
		v = st.Emitted + 1
	}
	if v == 0 {
		return 0, rec.Headers
	}
	st.Emitted = v
	if recordVersion(rec.Headers) == v {
		return v, rec.Headers
	}
	out := make([]stream.Header, 0, len(rec.Headers)+1)
	for _, h := range rec.Headers {
		if h.Key != stream.VersionHeader {
			out = append(out, h)
		}
	}
	return v, append(out, stream.Header{Key: stream.VersionHeader, Value: strconv.AppendInt(nil, v, 10)})
}

// staleRecord reports whether rec is older than the record the home st applied last, and otherwise
// records rec's version as the home's.
func staleRecord(st *joinState, rec *wireRecord) bool {
	v := recordVersion(rec.Headers)
	if v == 0 {
		return false
	}
	if v < st.RecordVersion {
		return true
	}
	st.RecordVersion = v
	return false
}

// keyedVersions gives the outputs of one input of a keyed step (stages.Keyed: Dedupe, Aggregate, Count,
// ...) versions that only grow per state key, and returns the last one (emitted: the key's previous). An
// aggregate's inputs reach its key from several source keys and partitions, so their own versions need
// not arrive in order; each output carries max(its input's version, the key's previous output version + 1),
// the rule of join outputs, so that a sink keeping the highest version per document takes every new
// value of the aggregate. Outputs keyed otherwise than by the state key get versions ordered per state key
// only. When neither the input nor any earlier output of the key had a version, outputs carry none.
func keyedVersions(emitted int64, outs []stream.Record) int64 {
	for i := range outs {
		v := recordVersion(outs[i].Headers)
		if v == 0 && emitted == 0 {
			continue
		}
		if v <= emitted {
			v = emitted + 1
		}
		headers := make([]stream.Header, 0, len(outs[i].Headers)+1)
		for _, h := range outs[i].Headers {
			if h.Key != stream.VersionHeader {
				headers = append(headers, h)
			}
		}
		outs[i].Headers = append(headers, stream.Header{Key: stream.VersionHeader, Value: strconv.AppendInt(nil, v, 10)})
		emitted = v
	}
	return emitted
}
