"""Confluent's Python client against Sluice, for test/interop (run with test/python/.venv/bin/python).

  consume BOOTSTRAP TOPIC REGISTRY_URL COUNT TIMEOUT_S
      Reads COUNT records of TOPIC from its start with confluent_kafka.Consumer and AvroDeserializer
      (SchemaRegistryClient({'url': REGISTRY_URL})) and prints one JSON line per record, in partition then
      offset order: {"partition", "offset", "schema_id", "schema" (the writer schema the registry returned),
      "value" (the deserialized value, tagged: see tagged)}. Exits 2 if fewer arrived within TIMEOUT_S.

  produce BOOTSTRAP TOPIC REGISTRY_URL
      Writes PAYMENTS with AvroSerializer (PAYMENT_SCHEMA, auto-registered under TOPIC-value) and
      confluent_kafka.Producer, flushes, and prints the id the registry gave the schema.
"""

import base64
import datetime
import decimal
import json
import sys
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext


def tagged(v):
    """Renders what fastavro decoded as JSON, tagging each type: {"int": digits}, {"float": repr},
    {"decimal": plain digits}, {"datetime"|"date"|"time": isoformat}, {"uuid": text}, {"bytes": base64},
    {"object": {...}} for records and maps; strings, booleans, null and lists as themselves."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        return {"float": repr(v)}
    if isinstance(v, decimal.Decimal):
        return {"decimal": format(v, "f")}
    if isinstance(v, datetime.datetime):
        return {"datetime": v.isoformat()}
    if isinstance(v, datetime.date):
        return {"date": v.isoformat()}
    if isinstance(v, datetime.time):
        return {"time": v.isoformat()}
    if isinstance(v, uuid.UUID):
        return {"uuid": str(v)}
    if isinstance(v, (bytes, bytearray)):
        return {"bytes": base64.b64encode(v).decode()}
    if isinstance(v, dict):
        return {"object": {k: tagged(x) for k, x in v.items()}}
    if isinstance(v, (list, tuple)):
        return [tagged(x) for x in v]
    raise TypeError("unexpected %s" % type(v).__name__)


def consume(bootstrap, topic, registry_url, count, timeout_s):
    registry = SchemaRegistryClient({"url": registry_url})
    deserializer = AvroDeserializer(registry)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "interop-python",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    meta = consumer.list_topics(topic, timeout=timeout_s)
    parts = sorted(meta.topics[topic].partitions)
    consumer.assign([TopicPartition(topic, p, 0) for p in parts])
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=timeout_s)
    read = []
    while len(read) < count and datetime.datetime.now() < deadline:
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            raise RuntimeError(str(msg.error()))
        read.append(msg)
    consumer.close()
    read.sort(key=lambda m: (m.partition(), m.offset()))
    for msg in read:
        raw = msg.value()
        schema_id = int.from_bytes(raw[1:5], "big")
        value = deserializer(raw, SerializationContext(topic, MessageField.VALUE))
        print(json.dumps({"partition": msg.partition(), "offset": msg.offset(), "schema_id": schema_id,
                          "schema": json.loads(registry.get_schema(schema_id).schema_str),
                          "value": tagged(value)}, ensure_ascii=False, sort_keys=True))
    return 0 if len(read) >= count else 2


PAYMENT_SCHEMA = json.dumps({
    "type": "record", "name": "Payment", "namespace": "com.example.payments",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 9}},
        {"name": "booked", "type": {"type": "int", "logicalType": "date"}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "ref", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "payer", "type": {"type": "record", "name": "Party", "fields": [
            {"name": "name", "type": "string"},
            {"name": "country", "type": "string"},
            {"name": "score", "type": "double"}]}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "limits", "type": {"type": "map", "values": "long"}},
        {"name": "memo", "type": ["null", "string"], "default": None},
        {"name": "rate", "type": "float"},
        {"name": "active", "type": "boolean"},
        {"name": "blob", "type": "bytes"},
    ],
})

UTC = datetime.timezone.utc
PAYMENTS = [
    {"id": 1, "amount": decimal.Decimal("12345678901234567890123456789.123456789"),
     "booked": datetime.date(2026, 11, 30), "at": datetime.datetime(2026, 11, 30, 21, 34, 40, 123456, tzinfo=UTC),
     "ref": uuid.UUID("0b7e6a52-8a4e-4c39-9a6b-1f2d3c4b5a69"),
     "payer": {"name": "Ada Lovelace", "country": "GB", "score": 0.1},
     "tags": ["card", "eur"], "limits": {"daily": 1000, "monthly": 9223372036854775807},
     "memo": "first – Grüße", "rate": 1.5, "active": True, "blob": b"\x00\x01\xff"},
    {"id": 2, "amount": decimal.Decimal("-0.000000001"),
     "booked": datetime.date(1969, 12, 31), "at": datetime.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
     "ref": uuid.UUID("00000000-0000-0000-0000-000000000000"),
     "payer": {"name": "", "country": "JP", "score": -2.5e-300},
     "tags": [], "limits": {},
     "memo": None, "rate": -0.0, "active": False, "blob": b""},
    {"id": 3, "amount": decimal.Decimal("99999999999999999999999999999.999999999"),
     "booked": datetime.date(9999, 12, 31), "at": datetime.datetime(2038, 1, 19, 3, 14, 8, 1, tzinfo=UTC),
     "ref": uuid.UUID("ffffffff-ffff-ffff-ffff-ffffffffffff"),
     "payer": {"name": "日本", "country": "", "score": 1e300},
     "tags": ["x"], "limits": {"": -1},
     "memo": "", "rate": 3.4028234663852886e38, "active": True, "blob": b"bytes"},
]


def produce(bootstrap, topic, registry_url):
    registry = SchemaRegistryClient({"url": registry_url})
    serializer = AvroSerializer(registry, PAYMENT_SCHEMA, conf={"auto.register.schemas": True})
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    errors = []

    def delivered(err, msg):
        if err is not None:
            errors.append(str(err))

    for p in PAYMENTS:
        value = serializer(p, SerializationContext(topic, MessageField.VALUE))
        producer.produce(topic, key=str(p["id"]).encode(), value=value, on_delivery=delivered)
    remaining = producer.flush(60)
    if remaining or errors:
        raise RuntimeError("not delivered: %d records, errors %s" % (remaining, errors))
    print(registry.get_latest_version(topic + "-value").schema_id)
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "consume":
        sys.exit(consume(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6])))
    if cmd == "produce":
        sys.exit(produce(sys.argv[2], sys.argv[3], sys.argv[4]))
    sys.exit("unknown command %r" % cmd)
