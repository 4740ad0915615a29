import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.opensearch.action.admin.cluster.health.ClusterHealthResponse;
import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.common.unit.TimeValue;
import org.opensearch.core.common.transport.TransportAddress;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * Starts a real single-node OpenSearch for Sluice's interop tests, from the jars of test/opensearch/pom.xml
 * on the class path (no distribution, no plugin directories: the HTTP layer and the common analyzers are
 * loaded as plugin classes, the way the OpenSearch test framework's MockNode does).
 *
 * <p>Usage: {@code java -cp 'lib/*:classes' Launcher <home-dir> <http-port> <transport-port>}; a port of 0
 * binds a free one. The node keeps its data, logs and configuration under home-dir, listens on 127.0.0.1
 * only, runs with discovery.type=single-node and no security plugin. Once the cluster is yellow or green it
 * prints one line {@code READY http://127.0.0.1:<port>} on stdout. It closes the node and exits when its
 * stdin reaches end of file (the parent closed it or died), or on SIGTERM. Its own log goes to stderr.
 */
public final class Launcher {

    /** A Node whose plugins are classes on the class path instead of directories under plugins/. */
    static final class ClasspathNode extends Node {
        ClasspathNode(Environment env, List<Class<? extends Plugin>> plugins) {
            super(env, plugins, true);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: Launcher <home-dir> <http-port> <transport-port>");
            System.exit(2);
        }
        // LogConfigurator sends System.out to the log: keep the real stdout for the READY line.
        PrintStream stdout = System.out;
        Path home = Paths.get(args[0]).toAbsolutePath();
        String httpPort = args[1], transportPort = args[2];
        Path config = home.resolve("config");
        Files.createDirectories(config);
        Files.createDirectories(home.resolve("plugins"));
        Files.createDirectories(home.resolve("modules"));
        Files.createDirectories(home.resolve("data"));
        Files.createDirectories(home.resolve("logs"));
        Files.writeString(config.resolve("log4j2.properties"), String.join("\n",
            "status = error",
            "appender.console.type = Console",
            "appender.console.name = console",
            "appender.console.target = SYSTEM_ERR",
            "appender.console.layout.type = PatternLayout",
            "appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%marker %m%n",
            "rootLogger.level = info",
            "rootLogger.appenderRef.console.ref = console",
            // Deprecation warnings of the requests tests send are not the node's problems.
            "logger.deprecation.name = org.opensearch.deprecation",
            "logger.deprecation.level = error",
            ""), StandardCharsets.UTF_8);

        Settings settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", "sluice-interop")
            .put("node.name", "sluice-opensearch-0")
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.port", transportPort)
            .put("discovery.type", "single-node")
            // A shared two-core test machine: no disk watermarks blocking writes, no memory locking.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("bootstrap.memory_lock", false)
            .put("node.max_local_storage_nodes", 1)
            .build();
        Environment env = InternalSettingsPreparer.prepareEnvironment(settings, Collections.emptyMap(), config,
            () -> "sluice-opensearch-0");
        LogConfigurator.registerErrorListener();
        LogConfigurator.setNodeName("sluice-opensearch-0");
        LogConfigurator.configure(env);

        long started = System.nanoTime();
        Node node = new ClasspathNode(env, List.of(Netty4Plugin.class, CommonAnalysisPlugin.class, MapperExtrasPlugin.class));
        Runtime.getRuntime().addShutdownHook(new Thread(() -> closeQuietly(node), "launcher-shutdown"));
        node.start();
        ClusterHealthResponse health = node.client().admin().cluster().prepareHealth()
            .setWaitForYellowStatus().setTimeout(TimeValue.timeValueSeconds(60)).get();
        if (health.isTimedOut()) {
            System.err.println("launcher: the cluster did not reach yellow within 60s: " + health.getStatus());
            closeQuietly(node);
            System.exit(1);
        }
        TransportAddress http = node.injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress();
        System.err.printf("launcher: node started in %d ms, cluster %s%n",
            TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started), health.getStatus());
        stdout.println("READY http://127.0.0.1:" + http.getPort());
        stdout.flush();

        // Parent death: stdin is a pipe from the test binary; end of file means it is gone (or done).
        InputStream in = System.in;
        byte[] buf = new byte[256];
        try {
            while (in.read(buf) >= 0) {
                // ignore input
            }
        } catch (IOException e) {
            // treat as end of file
        }
        System.exit(0); // the shutdown hook closes the node
    }

    private static void closeQuietly(Node node) {
        try {
            node.close();
            node.awaitClose(20, TimeUnit.SECONDS);
        } catch (Exception e) {
            System.err.println("launcher: closing the node: " + e);
        }
    }
}
