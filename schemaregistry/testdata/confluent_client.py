"""Drives Sluice's embedded schema registry with Confluent's own Python client (confluent-kafka's
SchemaRegistryClient, AvroSerializer and AvroDeserializer): every call a Confluent user makes, with the
answers checked. Usage: confluent_client.py <registry URL>. Exits non-zero at the first mismatch."""
import sys

from confluent_kafka.schema_registry import SchemaRegistryClient, Schema
from confluent_kafka.schema_registry.avro import AvroSerializer, AvroDeserializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import SerializationContext, MessageField


def expect(what, got, want):
    if got != want:
        sys.exit(f"{what}: got {got!r}, want {want!r}")
    print(f"ok {what}: {got!r}")


def refused(what, call, status, code, part=""):
    try:
        call()
    except SchemaRegistryError as e:
        expect(what + " (HTTP status)", e.http_status_code, status)
        expect(what + " (error code)", e.error_code, code)
        if part not in e.error_message:
            sys.exit(f"{what}: message {e.error_message!r} does not contain {part!r}")
        return
    sys.exit(f"{what}: accepted, want error {code}")


client = SchemaRegistryClient({"url": sys.argv[1]})
subject = "shop.orders-value"
v1 = ('{"type":"record","name":"Value","namespace":"shop.orders","fields":'
      '[{"name":"id","type":"long"},{"name":"note","type":"string"}]}')
v2 = '{"type":"record","name":"Value","namespace":"shop.orders","fields":[{"name":"id","type":"long"}]}'

sid = client.register_schema(subject, Schema(v1, "AVRO"))
expect("register", sid, 1)
expect("register again", client.register_schema(subject, Schema(v1, "AVRO")), 1)
expect("get_schema type", client.get_schema(sid).schema_type, "AVRO")
found = client.lookup_schema(subject, Schema(v1, "AVRO"))
expect("lookup", (found.schema_id, found.version, found.subject), (1, 1, subject))
latest = client.get_latest_version(subject)
expect("latest", (latest.schema_id, latest.version), (1, 1))
expect("versions", client.get_versions(subject), [1])
expect("subjects", client.get_subjects(), [subject])
expect("global compatibility", client.get_compatibility(), "BACKWARD")
client.set_compatibility(subject, "FORWARD")
expect("subject compatibility", client.get_compatibility(subject), "FORWARD")
expect("test_compatibility", client.test_compatibility(subject, Schema(v2, "AVRO")), False)
refused("register incompatible", lambda: client.register_schema(subject, Schema(v2, "AVRO")), 409, 409,
        'field "note" (in record shop.orders.Value) was removed and has no default in the previous version 1')
refused("unknown id", lambda: client.get_schema(99), 404, 40403)
refused("unknown subject", lambda: client.get_latest_version("nope"), 404, 40401)

# The serializer registers (or finds) the schema and writes Confluent's wire format; the deserializer reads
# the schema back by id.
ctx = SerializationContext("shop.orders", MessageField.VALUE)
data = AvroSerializer(client, v1)({"id": 7, "note": "hi"}, ctx)
expect("wire format header", data[:5].hex(), "0000000001")
expect("decoded", AvroDeserializer(client)(data, ctx), {"id": 7, "note": "hi"})

jid = client.register_schema("json-value", Schema('{"type":"object"}', "JSON"))
expect("JSON schema id", jid, 2)
expect("JSON schema type", client.get_schema(jid).schema_type, "JSON")

expect("delete version", client.delete_version(subject, 1), 1)
refused("delete soft-deleted subject", lambda: client.delete_subject(subject), 404, 40404)
expect("delete permanently", client.delete_subject(subject, permanent=True), [1])
expect("subjects after delete", client.get_subjects(), ["json-value"])
print("all ok")
