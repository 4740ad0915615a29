// JsonConverterDump reads a topic with Kafka Connect's own JsonConverter (schemas.enable=true) and prints, for
// each record value, the Connect schema and data it converts to, rendered deterministically. test/interop
// compiles it with javac against test/connect/lib and compares its output with what Sluice wrote.
//
// Usage: java -cp 'test/connect/lib/*:CLASSES' JsonConverterDump <bootstrap> <topic> <records> <timeout-ms>
//
// Output, one line per record in partition-then-offset order:
//   <partition>/<offset> <schema> = <value>
// Schemas: TYPE, then <name> if named, (k=v,...) if it has parameters, ? if optional; structs add
// {field:schema, ...}, arrays [items], maps {key->value}. Values: null; int8/int16/int32/int64 as decimal
// integers; float and double as the hex of their IEEE bits (exact); boolean; strings JSON-quoted (\" \\ and
// control characters escaped, others as UTF-8); bytes as base64; Decimal as BigDecimal.toPlainString;
// Date, Time and Timestamp as epoch milliseconds and yyyy-MM-dd'T'HH:mm:ss.SSS'Z' in UTC; arrays [a, b];
// maps {k: v, ...} sorted by rendered key; structs {field=value, ...} in schema order.
// It exits 0 once it printed <records> records, 2 when the timeout struck first.

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.connect.data.Decimal;
import org.apache.kafka.connect.data.Field;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.SchemaAndValue;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.json.JsonConverter;

public final class JsonConverterDump {
    private static final DateTimeFormatter ISO =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: JsonConverterDump <bootstrap> <topic> <records> <timeout-ms>");
            System.exit(64);
        }
        String bootstrap = args[0], topic = args[1];
        int want = Integer.parseInt(args[2]);
        long deadline = System.currentTimeMillis() + Long.parseLong(args[3]);
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);

        JsonConverter converter = new JsonConverter();
        converter.configure(Map.of("schemas.enable", "true"), false);

        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        try (KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = new ArrayList<>();
            for (PartitionInfo p : consumer.partitionsFor(topic, Duration.ofMillis(Math.max(1, deadline - System.currentTimeMillis())))) {
                parts.add(new TopicPartition(topic, p.partition()));
            }
            parts.sort((a, b) -> Integer.compare(a.partition(), b.partition()));
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            List<ConsumerRecord<byte[], byte[]>> read = new ArrayList<>();
            while (read.size() < want && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    read.add(r);
                }
            }
            read.sort((a, b) -> a.partition() != b.partition()
                    ? Integer.compare(a.partition(), b.partition()) : Long.compare(a.offset(), b.offset()));
            for (ConsumerRecord<byte[], byte[]> r : read) {
                SchemaAndValue sv = converter.toConnectData(topic, r.value());
                out.println(r.partition() + "/" + r.offset() + " " + schema(sv.schema()) + " = " + value(sv.schema(), sv.value()));
            }
            System.exit(read.size() >= want ? 0 : 2);
        }
    }

    static String schema(Schema s) {
        if (s == null) {
            return "none";
        }
        StringBuilder b = new StringBuilder(s.type().name());
        if (s.name() != null) {
            b.append('<').append(s.name()).append('>');
        }
        if (s.parameters() != null && !s.parameters().isEmpty()) {
            b.append(new TreeMap<>(s.parameters()).toString().replace('{', '(').replace('}', ')').replace(" ", ""));
        }
        if (s.isOptional()) {
            b.append('?');
        }
        switch (s.type()) {
            case STRUCT -> {
                List<String> fields = new ArrayList<>();
                for (Field f : s.fields()) {
                    fields.add(f.name() + ":" + schema(f.schema()));
                }
                b.append('{').append(String.join(", ", fields)).append('}');
            }
            case ARRAY -> b.append('[').append(schema(s.valueSchema())).append(']');
            case MAP -> b.append('{').append(schema(s.keySchema())).append("->").append(schema(s.valueSchema())).append('}');
            default -> { }
        }
        return b.toString();
    }

    static String value(Schema s, Object v) {
        if (v == null) {
            return "null";
        }
        if (s == null) {
            return "schemaless:" + v;
        }
        if (s.name() != null) {
            switch (s.name()) {
                case Decimal.LOGICAL_NAME -> { return ((BigDecimal) v).toPlainString(); }
                case org.apache.kafka.connect.data.Date.LOGICAL_NAME, org.apache.kafka.connect.data.Time.LOGICAL_NAME,
                        org.apache.kafka.connect.data.Timestamp.LOGICAL_NAME -> {
                    long ms = ((Date) v).getTime();
                    return ms + "@" + ISO.format(Instant.ofEpochMilli(ms));
                }
                default -> { }
            }
        }
        switch (s.type()) {
            case INT8, INT16, INT32, INT64, BOOLEAN -> { return v.toString(); }
            case FLOAT32 -> { return "0x" + Integer.toHexString(Float.floatToRawIntBits((Float) v)); }
            case FLOAT64 -> { return "0x" + Long.toHexString(Double.doubleToRawLongBits((Double) v)); }
            case STRING -> { return quote((String) v); }
            case BYTES -> {
                byte[] bytes = v instanceof ByteBuffer bb ? toArray(bb) : (byte[]) v;
                return Base64.getEncoder().encodeToString(bytes);
            }
            case ARRAY -> {
                List<String> items = new ArrayList<>();
                for (Object item : (List<?>) v) {
                    items.add(value(s.valueSchema(), item));
                }
                return "[" + String.join(", ", items) + "]";
            }
            case MAP -> {
                TreeMap<String, String> entries = new TreeMap<>();
                for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                    entries.put(value(s.keySchema(), e.getKey()), value(s.valueSchema(), e.getValue()));
                }
                List<String> items = new ArrayList<>();
                entries.forEach((k, val) -> items.add(k + ": " + val));
                return "{" + String.join(", ", items) + "}";
            }
            case STRUCT -> {
                Struct st = (Struct) v;
                List<String> fields = new ArrayList<>();
                for (Field f : s.fields()) {
                    fields.add(f.name() + "=" + value(f.schema(), st.get(f)));
                }
                return "{" + String.join(", ", fields) + "}";
            }
            default -> throw new IllegalStateException("unexpected schema type " + s.type());
        }
    }

    static byte[] toArray(ByteBuffer bb) {
        byte[] b = new byte[bb.remaining()];
        bb.duplicate().get(b);
        return b;
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }
}
