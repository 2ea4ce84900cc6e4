import java.io.File;
import java.util.List;
import java.util.concurrent.CountDownLatch;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.h2.H2Backend;

/**
 * Local, no-Docker MongoDB stand-in for driverhome: mongo-java-server with the H2 MVStore
 * on-disk backend. Started by deploy/local/infra.sh; not for production.
 *
 * <pre>
 * java -cp &lt;mongo jars&gt;:&lt;classes&gt; MongoLauncher --file DATA.mv [--host 127.0.0.1] [--port 27017]
 * </pre>
 *
 * Server version: the library's own {@code ServerVersion.MONGO_5_0} (its default) answers
 * "5.0.0" but maxWireVersion 8, and PyMongo 4.20 refuses anything below wire 9 (MongoDB 4.4).
 * The version is only reported (isMaster/buildInfo/serverStatus), never used for behaviour, so we
 * pass our own {@link MongoVersion}: "5.0.0" with the real 5.0 wire version, 13.
 *
 * SIGTERM/SIGINT run a shutdown hook that stops the listener and closes the backend, which
 * closes (and flushes) the MVStore, so the data file is left consistent.
 */
public final class MongoLauncher {

    /** What we report to drivers: MongoDB 5.0.0, maxWireVersion 13. */
    static final MongoVersion REPORTED_VERSION = new MongoVersion() {
        @Override
        public List<Integer> getVersionArray() {
            return List.of(5, 0, 0);
        }

        @Override
        public int getWireVersion() {
            return 13;
        }
    };

    private MongoLauncher() {
    }

    public static void main(String[] args) throws Exception {
        String host = "127.0.0.1";
        int port = 27017;
        String file = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--host" -> host = value(args, ++i, a);
                case "--port" -> port = Integer.parseInt(value(args, ++i, a));
                case "--file" -> file = value(args, ++i, a);
                case "-h", "--help" -> {
                    System.out.println("usage: MongoLauncher --file DATA.mv [--host 127.0.0.1] [--port 27017]");
                    return;
                }
                default -> fail("unknown argument: " + a);
            }
        }
        if (file == null) {
            fail("--file is required (path of the H2 MVStore data file)");
        }
        File parent = new File(file).getAbsoluteFile().getParentFile();
        if (parent != null && !parent.isDirectory() && !parent.mkdirs()) {
            fail("cannot create directory " + parent);
        }

        final H2Backend backend;
        try {
            // Same as H2MongoServer(String): MVStore.open(file), autocommit on (flushes ~1 s).
            backend = new H2Backend(file);
        } catch (RuntimeException e) {
            fail("cannot open MVStore '" + file + "' (already used by another process?): " + e);
            return;
        }
        backend.version(REPORTED_VERSION);
        final MongoServer server = new MongoServer(backend);
        try {
            server.bind(host, port);
        } catch (RuntimeException e) {
            backend.close();
            fail("cannot bind " + host + ":" + port + ": " + e);
        }

        final CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.err.println("MongoLauncher: shutting down");
            try {
                server.shutdown(); // stops listening, then backend.close() -> MVStore.close()
            } catch (RuntimeException e) {
                System.err.println("MongoLauncher: error during shutdown: " + e);
                try {
                    backend.close();
                } catch (RuntimeException ignored) {
                    // the store may already be closed
                }
            } finally {
                stopped.countDown();
            }
            System.err.println("MongoLauncher: stopped");
        }, "mongo-launcher-shutdown"));

        System.err.println("MongoLauncher: listening on " + host + ":" + port + " (reports MongoDB "
                + REPORTED_VERSION.toVersionString() + ", wire " + REPORTED_VERSION.getWireVersion()
                + ", data " + new File(file).getAbsolutePath() + ")");
        // Netty threads keep the JVM alive; block main so the process lifetime is explicit.
        stopped.await();
    }

    private static String value(String[] args, int i, String flag) {
        if (i >= args.length) {
            fail(flag + " needs a value");
        }
        return args[i];
    }

    private static void fail(String msg) {
        System.err.println("MongoLauncher: " + msg);
        System.exit(2);
    }
}
