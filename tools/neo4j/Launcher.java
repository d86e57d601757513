/*
 * Hippograph development/test Neo4j launcher.
 *
 * Runs an embedded Neo4j Community DBMS (the jars fetched by tools/neo4j/pom.xml)
 * with the Bolt connector on 127.0.0.1:<port>. Meant to be run in Java source-file
 * mode, e.g.
 *
 *   java <jvm flags> -cp 'tools/neo4j/lib/*' tools/neo4j/Launcher.java \
 *        --home .hippograph/neo4j --port 7687 [--auth neo4j:password]
 *
 * Protocol with the caller (tests/support/neo4j_server.py, tools/neo4j/start.sh):
 *   - stdout carries exactly one line, "NEO4J_READY bolt://127.0.0.1:<port>",
 *     printed once database "neo4j" is online and has answered RETURN 1;
 *   - everything else (our messages, library output) goes to stderr;
 *   - SIGTERM / SIGINT run a shutdown hook that shuts the DBMS down cleanly;
 *   - exit status 1 when startup fails, 2 on bad arguments.
 *
 * Options (all but --home optional):
 *   --home DIR            Neo4j home; data/ and logs/ are created under it.
 *   --port N              Bolt port (default 7687).
 *   --auth USER:PASSWORD  Enable auth and set USER's password (default: auth off).
 *   --pagecache SIZE      Page cache size, e.g. 256m (default 256m, env NEO4J_PAGECACHE).
 *   --tx-timeout DURATION Transaction timeout, e.g. 120s (default 120s, env NEO4J_TX_TIMEOUT).
 *   --ready-timeout SECS  How long to wait for database "neo4j" (default 300).
 *   --watch-stdin         Shut down when stdin reaches EOF, i.e. when the parent
 *                         process that holds the other end of the pipe dies. Used by
 *                         the Python test helper so no JVM outlives a killed test run.
 */

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.SettingValueParsers;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.io.ByteUnit;

public class Launcher {

    private static final String HOST = "127.0.0.1";
    private static final String DEFAULT_DB = "neo4j";

    private static void log(String msg) {
        System.err.println("[launcher] " + msg);
        System.err.flush();
    }

    private static void usage(String problem) {
        System.err.println("[launcher] " + problem);
        System.err.println("usage: java <jvm flags> -cp 'lib/*' Launcher.java --home DIR [--port N]"
                + " [--auth USER:PASSWORD] [--pagecache SIZE] [--tx-timeout DURATION]"
                + " [--ready-timeout SECONDS] [--watch-stdin]");
        System.exit(2);
    }

    private static String envOr(String name, String fallback) {
        String v = System.getenv(name);
        return (v == null || v.isBlank()) ? fallback : v.trim();
    }

    public static void main(String[] args) throws Exception {
        // Keep the real stdout for the READY line only; anything a library prints
        // to System.out from here on ends up on stderr.
        PrintStream ready = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        System.setOut(System.err);

        String home = null;
        int port = 7687;
        String auth = null;
        String pageCache = envOr("NEO4J_PAGECACHE", "256m");
        String txTimeout = envOr("NEO4J_TX_TIMEOUT", "120s");
        long readyTimeoutSeconds = 300;

        boolean watchStdin = false;

        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("-h") || a.equals("--help")) {
                usage("help");
            }
            if (a.equals("--watch-stdin")) {
                watchStdin = true;
                continue;
            }
            if (i + 1 >= args.length) {
                usage("missing value for " + a);
            }
            String v = args[++i];
            switch (a) {
                case "--home": home = v; break;
                case "--port":
                    try {
                        port = Integer.parseInt(v);
                    } catch (NumberFormatException e) {
                        usage("bad --port " + v);
                    }
                    break;
                case "--auth": auth = v; break;
                case "--pagecache": pageCache = v; break;
                case "--tx-timeout": txTimeout = v; break;
                case "--ready-timeout":
                    try {
                        readyTimeoutSeconds = Long.parseLong(v);
                    } catch (NumberFormatException e) {
                        usage("bad --ready-timeout " + v);
                    }
                    break;
                default: usage("unknown option " + a);
            }
        }
        if (home == null) {
            usage("--home is required");
        }
        if (port < 1 || port > 65535) {
            usage("--port must be 1..65535");
        }
        String authUser = null;
        String authPassword = null;
        if (auth != null) {
            int colon = auth.indexOf(':');
            if (colon <= 0 || colon == auth.length() - 1) {
                usage("--auth must be USER:PASSWORD");
            }
            authUser = auth.substring(0, colon);
            authPassword = auth.substring(colon + 1);
        }

        Path homeDir = Path.of(home).toAbsolutePath().normalize();
        Files.createDirectories(homeDir);

        DatabaseManagementServiceBuilder builder = new DatabaseManagementServiceBuilder(homeDir);
        builder.setConfig(BoltConnector.enabled, true);
        builder.setConfig(BoltConnector.listen_address, new SocketAddress(HOST, port));
        builder.setConfig(BoltConnector.advertised_address, new SocketAddress(HOST, port));
        builder.setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED);
        builder.setConfig(HttpConnector.enabled, false);
        builder.setConfig(HttpsConnector.enabled, false);
        builder.setConfig(GraphDatabaseSettings.auth_enabled, auth != null);
        builder.setConfig(GraphDatabaseSettings.pagecache_memory, SettingValueParsers.BYTES.parse(pageCache));
        builder.setConfig(GraphDatabaseSettings.transaction_timeout,
                SettingValueParsers.DURATION.parse(txTimeout));
        builder.setConfig(GraphDatabaseSettings.shutdown_transaction_end_timeout, Duration.ofSeconds(5));
        // Transaction logs: no retention beyond what recovery needs, small files, no preallocation.
        builder.setConfig(GraphDatabaseSettings.keep_logical_logs, "false");
        builder.setConfig(GraphDatabaseSettings.logical_log_rotation_threshold, ByteUnit.mebiBytes(16));
        builder.setConfig(GraphDatabaseSettings.preallocate_logical_logs, false);
        // Quiet: no debug.log, no query log, no usage report.
        builder.setConfig(GraphDatabaseSettings.debug_log_enabled, false);
        builder.setConfig(GraphDatabaseSettings.log_queries, GraphDatabaseSettings.LogQueryLevel.OFF);
        builder.setConfig(GraphDatabaseSettings.udc_enabled, false);
        // Let Bolt's Netty event loops stop without the default 2 s quiet period.
        builder.setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 0);

        log("starting Neo4j in " + homeDir + " (bolt " + HOST + ":" + port + ", auth "
                + (auth != null ? "on" : "off") + ", page cache " + pageCache + ")");
        long t0 = System.nanoTime();

        final DatabaseManagementService dbms;
        try {
            dbms = builder.build();
        } catch (Throwable t) {
            log("failed to start the DBMS: " + t);
            t.printStackTrace(System.err);
            System.exit(1);
            return;
        }

        AtomicBoolean stopped = new AtomicBoolean(false);
        Runnable stop = () -> {
            if (stopped.compareAndSet(false, true)) {
                log("shutting down");
                try {
                    dbms.shutdown();
                    log("stopped");
                } catch (Throwable t) {
                    log("error during shutdown: " + t);
                }
            }
        };
        Runtime.getRuntime().addShutdownHook(new Thread(stop, "neo4j-launcher-shutdown"));

        if (watchStdin) {
            Thread watcher = new Thread(() -> {
                try {
                    byte[] buf = new byte[256];
                    while (System.in.read(buf) >= 0) {
                        // discard; we only care about EOF
                    }
                } catch (Exception e) {
                    // treat a broken stdin like EOF
                }
                log("stdin closed (parent gone); exiting");
                System.exit(0);
            }, "neo4j-launcher-stdin-watch");
            watcher.setDaemon(true);
            watcher.start();
        }

        try {
            GraphDatabaseService db = dbms.database(DEFAULT_DB);
            if (!db.isAvailable(TimeUnit.SECONDS.toMillis(readyTimeoutSeconds))) {
                throw new IllegalStateException("database '" + DEFAULT_DB + "' not available after "
                        + readyTimeoutSeconds + " s");
            }
            if (authUser != null) {
                setPassword(dbms, authUser, authPassword);
            }
            long one = db.executeTransactionally("RETURN 1 AS one", Map.of(),
                    result -> ((Number) result.next().get("one")).longValue());
            if (one != 1L) {
                throw new IllegalStateException("RETURN 1 returned " + one);
            }
        } catch (Throwable t) {
            log("startup check failed: " + t);
            t.printStackTrace(System.err);
            stop.run();
            System.exit(1);
            return;
        }

        log(String.format("ready after %.1f s", (System.nanoTime() - t0) / 1e9));
        ready.println("NEO4J_READY bolt://" + HOST + ":" + port);
        ready.flush();

        // Park; the shutdown hook does the rest on SIGTERM/SIGINT.
        new CountDownLatch(1).await();
    }

    /**
     * Sets the password of {@code user} through the system database. Embedded
     * transactions run with full privileges, so this works on a fresh store
     * (where neo4j/neo4j with "change required" was just created) and on an
     * existing one (where it simply resets the password).
     */
    private static void setPassword(DatabaseManagementService dbms, String user, String password) {
        GraphDatabaseService system = dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
        Map<String, Object> params = new HashMap<>();
        params.put("password", password);
        String quoted = "`" + user.replace("`", "``") + "`";
        boolean exists = system.executeTransactionally("SHOW USERS YIELD user WHERE user = $u RETURN count(*) AS n",
                Map.of("u", user), r -> ((Number) r.next().get("n")).longValue() > 0);
        if (!exists) {
            system.executeTransactionally("CREATE USER " + quoted
                    + " SET PASSWORD $password CHANGE NOT REQUIRED", params);
        } else {
            try {
                system.executeTransactionally("ALTER USER " + quoted
                        + " SET PASSWORD $password CHANGE NOT REQUIRED", params);
            } catch (RuntimeException e) {
                // Restart with the same password: Neo4j refuses to "change" a password
                // to its current value. That is the state we want; just make sure no
                // password change is pending.
                if (!String.valueOf(e.getMessage()).contains("cannot be the same")) {
                    throw e;
                }
                system.executeTransactionally("ALTER USER " + quoted + " SET PASSWORD CHANGE NOT REQUIRED");
            }
        }
        log("auth enabled; password set for user '" + user + "'");
    }
}
