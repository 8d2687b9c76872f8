package org.orecart.testing;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

import org.neo4j.cli.ExecutionContext;
import org.neo4j.commandline.admin.security.SetInitialPasswordCommand;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.ConnectorPortRegister;
import org.neo4j.configuration.connectors.ConnectorType;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.io.ByteUnit;
import org.neo4j.io.fs.DefaultFileSystemAbstraction;
import org.neo4j.kernel.internal.GraphDatabaseAPI;
import picocli.CommandLine;

/**
 * Starts Neo4j Community embedded with a Bolt connector, for orecart's tests and benchmarks.
 *
 * <p>Usage: {@code Launcher --home DIR [--port N] [--host H] [--pagecache MB] [--ignore-stdin]}.
 * The password of user {@code neo4j} comes from the environment variable
 * {@code NEO4J_PASSWORD} (kept off the command line so {@code ps} does not show it); when it
 * is empty, authentication is disabled. Port 0 (the default) lets the OS choose a free port.
 *
 * <p>Prints one line {@code READY bolt://HOST:PORT} on stdout once the default database
 * accepts queries. Stops cleanly on SIGTERM/SIGINT (shutdown hook) and, unless
 * {@code --ignore-stdin} is given, when stdin reaches EOF: a test process that dies closes the
 * pipe, so no Neo4j outlives its test session.
 */
public final class Launcher {
    private Launcher() {}

    public static void main(String[] args) throws Exception {
        Options options = Options.parse(args);
        String password = System.getenv().getOrDefault("NEO4J_PASSWORD", "");
        if (!password.isEmpty()) {
            setInitialPassword(Path.of(options.home), password);
        }
        DatabaseManagementService service = start(options, !password.isEmpty());
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            service.shutdown();
            stopped.countDown();
        }, "neo4j-shutdown"));
        GraphDatabaseService db = service.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
        db.executeTransactionally("RETURN 1");
        int port = boltPort(db);
        System.out.println("READY bolt://" + options.host + ":" + port);
        System.out.flush();
        if (options.watchStdin) {
            drain(System.in);
            System.exit(0); // runs the shutdown hook
        }
        stopped.await();
    }

    private static DatabaseManagementService start(Options options, boolean auth) {
        return new DatabaseManagementServiceBuilder(Path.of(options.home))
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress(options.host, options.port))
                .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                .setConfig(HttpConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, auth)
                .setConfig(GraphDatabaseSettings.auth_minimum_password_length, 1)
                .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(options.pagecacheMb))
                .build();
    }

    /**
     * Sets the password of user neo4j before the first start, as {@code neo4j-admin dbms
     * set-initial-password} does: Bolt must never answer with the default password, or a
     * client waiting for the server would see an authentication failure instead of "not yet".
     * On a home that already has a system database the stored password stays.
     */
    private static void setInitialPassword(Path home, String password) {
        if (Files.isDirectory(home.resolve("data/databases/system"))) {
            return;
        }
        ExecutionContext context = new ExecutionContext(
                home, home.resolve("conf"), System.err, System.err, new DefaultFileSystemAbstraction());
        int status = new CommandLine(new SetInitialPasswordCommand(context)).execute(password);
        if (status != 0) {
            throw new IllegalStateException("setting the initial password failed: " + status);
        }
    }

    private static int boltPort(GraphDatabaseService db) {
        ConnectorPortRegister ports = ((GraphDatabaseAPI) db).getDependencyResolver()
                .resolveDependency(ConnectorPortRegister.class);
        return ports.getLocalAddress(ConnectorType.BOLT).getPort();
    }

    private static void drain(InputStream in) throws IOException {
        byte[] buffer = new byte[1024];
        while (in.read(buffer) >= 0) {
            // discard: only EOF matters
        }
    }

    /** The command line, parsed. */
    private static final class Options {
        String home;
        String host = "127.0.0.1";
        int port;
        long pagecacheMb = 128;
        boolean watchStdin = true;

        static Options parse(String[] args) {
            Options o = new Options();
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--home" -> o.home = args[++i];
                    case "--host" -> o.host = args[++i];
                    case "--port" -> o.port = Integer.parseInt(args[++i]);
                    case "--pagecache" -> o.pagecacheMb = Long.parseLong(args[++i]);
                    case "--ignore-stdin" -> o.watchStdin = false;
                    default -> throw new IllegalArgumentException("unknown argument: " + args[i]);
                }
            }
            if (o.home == null) {
                throw new IllegalArgumentException("--home DIR is required");
            }
            return o;
        }
    }
}
