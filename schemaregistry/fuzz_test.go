package schemaregistry

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// FuzzApplyRecord feeds arbitrary log records (after a valid registration) to two fresh states: applying
// never panics and is deterministic, the property every replica's agreement rests on.
func FuzzApplyRecord(f *testing.F) {
	f.Add([]byte(`{"op":"register","attempt":"a"}`), []byte(`{"subject":"s","schemaType":"AVRO","schema":"\"long\""}`))
	f.Add([]byte(`{"op":"delete","attempt":"b"}`), []byte(`{"subject":"s","version":-1,"permanent":false}`))
	f.Add([]byte(`{"op":"delete","attempt":"b"}`), []byte(`{"subject":"s","version":1,"permanent":true}`))
	f.Add([]byte(`{"op":"config","attempt":"c"}`), []byte(`{"subject":"","compatibility":"FULL"}`))
	f.Add([]byte(`{"op":"config","attempt":"c"}`), []byte(`{"subject":"s"}`))
	f.Add([]byte(`{"op":"register","attempt":"d"}`), []byte(`{"subject":"s","schemaType":"JSON","schema":"{}"}`))
	f.Add([]byte(`not json`), []byte(nil))
	// A schema that panics hamba/avro v2.31.0's parser (an empty union with a default).
	f.Add([]byte(`{"op":"register","attempt":"e"}`), []byte(`{"subject":"s","schemaType":"AVRO","schema":"{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":\"a\",\"type\":[],\"default\":\"\"}]}"}`))
	first, _ := json.Marshal(recordValue{Subject: "s", SchemaType: TypeAvro, Schema: paymentV1})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		var states [2]*state
		var outs [2]outcome
		var oks [2]bool
		for i := range states {
			states[i] = newState(Backward)
			states[i].apply([]byte(`{"op":"register","attempt":"x"}`), first, parseSchema)
			_, outs[i], oks[i] = states[i].apply(key, value, parseSchema)
		}
		if oks[0] != oks[1] || outs[0].id != outs[1].id || outs[0].version != outs[1].version ||
			!reflect.DeepEqual(outs[0].versions, outs[1].versions) || outs[0].level != outs[1].level ||
			(outs[0].err == nil) != (outs[1].err == nil) {
			t.Fatalf("two states disagree: %+v / %+v", outs[0], outs[1])
		}
	})
}

// FuzzRegisterRequest posts arbitrary bodies to POST /subjects/{s}/versions and the compatibility check:
// the answer is 200 or a Confluent error with a 4xx status, never a crash or a 500.
func FuzzRegisterRequest(f *testing.F) {
	f.Add(`{"schema":"\"string\""}`)
	f.Add(`{"schema":` + jsonString(paymentV2) + `}`)
	f.Add(`{"schema":"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":[\"null\",\"R\"]}]}"}`)
	f.Add(`{"schema":"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}"}`)
	f.Add(`{"schema":"{\"type\":\"object\"}","schemaType":"JSON"}`)
	f.Add(`{"schema":"[\"null\",\"int\",{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}]"}`)
	f.Add(`{"schema":"{\"type\":\"map\",\"values\":{\"type\":\"array\",\"items\":\"long\"}}"}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		a := newAPI(t, nil)
		a.expect("POST", "/subjects/s/versions", `{"schema":`+jsonString(paymentV1)+`}`, 200, `{"id":1}`)
		for _, path := range []string{"/subjects/s/versions", "/compatibility/subjects/s/versions/latest", "/subjects/s", "/subjects/t/versions"} {
			req := httptest.NewRequest("POST", path, strings.NewReader(body))
			w := httptest.NewRecorder()
			a.h.ServeHTTP(w, req)
			if w.Code != 200 && (w.Code < 400 || w.Code >= 500) {
				t.Fatalf("POST %s %q: HTTP %d %s", path, body, w.Code, w.Body.String())
			}
		}
	})
}
