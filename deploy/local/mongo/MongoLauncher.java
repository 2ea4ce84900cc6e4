import java.io.File;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.LongAdder;

import org.h2.mvstore.MVMap;
import org.h2.mvstore.MVStore;
import org.h2.mvstore.type.ObjectDataType;

import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.AbstractUniqueIndex;
import de.bwaldvogel.mongo.backend.CollectionOptions;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.backend.IndexKey;
import de.bwaldvogel.mongo.backend.KeyValue;
import de.bwaldvogel.mongo.backend.Missing;
import de.bwaldvogel.mongo.backend.QueryResult;
import de.bwaldvogel.mongo.backend.ValueComparator;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.h2.H2Collection;
import de.bwaldvogel.mongo.backend.h2.H2Database;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.bson.ObjectId;
import io.netty.channel.Channel;

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
 * Query plans: the library uses an index only when a filter names exactly one unique index's
 * fields, so a filter such as {@code {_id, status, version}} (a write pinned to a state) read the
 * whole collection, and the services kept unique indexes starting with {@code _id} for each such
 * shape, paid for on every insert and update. Real MongoDB answers any filter that names
 * {@code _id} by equality or {@code $in} from the {@code _id} index and matches the other fields
 * on what it finds; {@link IdFirstCollection} does the same here. {@code {driverhomePlans:
 * "<collection>"}} answers how the collection's queries were served (tests assert on it).
 *
 * Index keys: the library's unique indexes keep their keys in H2 maps that compare two keys by
 * Java-serializing both; {@link KeyOrder} orders them by value instead (a store written before is
 * copied over at start-up), which made lookups by _id about 4 times and bulk inserts 3 to 6
 * times faster.
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

    /** The one store this process serves; set before the backend opens the databases in it. */
    private static volatile MVStore store;

    /** Per collection namespace: queries served by _id first, by another unique index, by a scan. */
    private static final Map<String, LongAdder[]> PLANS = new ConcurrentHashMap<>();

    private static final String PLANS_COMMAND = "driverhomePlans";

    private MongoLauncher() {
    }

    private static LongAdder[] plans(String namespace) {
        return PLANS.computeIfAbsent(namespace,
                ns -> new LongAdder[] {new LongAdder(), new LongAdder(), new LongAdder()});
    }

    static final class IdFirstBackend extends H2Backend {
        IdFirstBackend(MVStore mvStore) {
            super(mvStore);
        }

        @Override
        protected MongoDatabase openOrCreateDatabase(String databaseName) {
            return new IdFirstDatabase(databaseName, getMvStore(), getCursorRegistry());
        }

        @Override
        public Document handleCommand(Channel channel, String databaseName, String command, Document query) {
            if (!PLANS_COMMAND.equalsIgnoreCase(command)) {
                return super.handleCommand(channel, databaseName, command, query);
            }
            LongAdder[] counts = plans(databaseName + "." + query.get(command));
            Document answer = new Document("id_first", counts[0].longValue());
            answer.put("unique_index", counts[1].longValue());
            answer.put("scan", counts[2].longValue());
            answer.put("ok", 1.0);
            return answer;
        }
    }

    static final class IdFirstDatabase extends H2Database {
        IdFirstDatabase(String databaseName, MVStore mvStore, CursorRegistry cursorRegistry) {
            super(databaseName, mvStore, cursorRegistry);
        }

        // Called from the superclass constructor (opening the stored collections), before any
        // field of this class would be set: hence the static store.
        @Override
        protected MongoCollection<Object> openOrCreateCollection(String collectionName, CollectionOptions options) {
            String namespace = getFullCollectionNamespace(collectionName);
            MVMap<Object, Document> dataMap = store.openMap("databases." + namespace);
            MVMap<String, Object> metaMap = store.openMap("meta." + namespace);
            return new IdFirstCollection(this, collectionName, options, dataMap, metaMap, cursorRegistry,
                    namespace);
        }

        // Called from the superclass constructor too (opening the stored indexes).
        @Override
        protected Index<Object> openOrCreateUniqueIndex(String collectionName, String indexName, List<IndexKey> keys,
                boolean sparse) {
            String namespace = getFullCollectionNamespace(collectionName);
            return new KeyOrderedIndex(keyOrderedMap(namespace, indexName), indexName, keys, sparse);
        }

        @Override
        protected void dropIndex(MongoCollection<Object> collection, String indexName) {
            super.dropIndex(collection, indexName);
            store.removeMap(keyOrderedName(getFullCollectionNamespace(collection.getCollectionName()), indexName));
        }
    }

    private static String keyOrderedName(String namespace, String indexName) {
        return namespace + "._keys_" + indexName;
    }

    /**
     * An index's map in key order. A store written before keeps the library's map (same entries,
     * ordered by their Java-serialized bytes): it is copied over once and removed, the copy
     * redone from the start should the process stop halfway.
     */
    private static MVMap<KeyValue, Object> keyOrderedMap(String namespace, String indexName) {
        MVMap<KeyValue, Object> map = store.openMap(keyOrderedName(namespace, indexName),
                new MVMap.Builder<KeyValue, Object>().keyType(KeyOrder.INSTANCE));
        String earlier = namespace + "._index_" + indexName;
        if (store.hasMap(earlier)) {
            MVMap<KeyValue, Object> old = store.openMap(earlier);
            map.clear();
            for (Map.Entry<KeyValue, Object> entry : old.entrySet()) {
                map.put(entry.getKey(), entry.getValue());
            }
            store.removeMap(old);
        }
        return map;
    }

    /**
     * Index keys ordered by value. The library's maps use H2's default key type, which has no
     * order of its own for a {@link KeyValue} and compares two keys by serializing both with
     * Java serialization: about 17 serializations per lookup in a 100,000-document collection,
     * 70 % of the time of reading documents by _id. Values compare with the library's own
     * comparator; keys it calls equal that are not (it equates, say, some values of different
     * types) fall back to the serialized bytes, so the order stays total and consistent with
     * equality.
     */
    static final class KeyOrder extends ObjectDataType {
        static final KeyOrder INSTANCE = new KeyOrder();
        private static final ValueComparator VALUES = ValueComparator.ascWithoutListHandling();

        @Override
        public int compare(Object a, Object b) {
            if (a == b) {
                return 0;
            }
            if (a instanceof KeyValue left && b instanceof KeyValue right) {
                int n = Math.min(left.size(), right.size());
                for (int i = 0; i < n; i++) {
                    int c = VALUES.compare(left.get(i), right.get(i));
                    if (c != 0) {
                        return c;
                    }
                }
                int c = Integer.compare(left.size(), right.size());
                if (c != 0 || left.equals(right)) {
                    return c;
                }
            }
            return super.compare(a, b);
        }
    }

    /** A unique index on a key-ordered map (the library's H2 index class is package-private). */
    static final class KeyOrderedIndex extends AbstractUniqueIndex<Object> {
        private final MVMap<KeyValue, Object> map;

        KeyOrderedIndex(MVMap<KeyValue, Object> map, String name, List<IndexKey> keys, boolean sparse) {
            super(name, keys, sparse);
            this.map = map;
        }

        @Override
        protected Object removeDocument(KeyValue keyValue) {
            return map.remove(keyValue);
        }

        @Override
        protected boolean putKeyPosition(KeyValue keyValue, Object position) {
            return map.putIfAbsent(keyValue, Missing.ofNullable(position)) == null;
        }

        @Override
        protected Iterable<Map.Entry<KeyValue, Object>> getIterable() {
            return map.entrySet();
        }

        @Override
        protected Object getPosition(KeyValue keyValue) {
            return map.get(keyValue);
        }

        @Override
        public long getCount() {
            return map.sizeAsLong();
        }

        @Override
        public boolean isEmpty() {
            return map.isEmpty();
        }

        @Override
        public long getDataSize() {
            return getCount();
        }
    }


    static final class IdFirstCollection extends H2Collection {
        private final LongAdder[] counts;

        IdFirstCollection(MongoDatabase database, String collectionName, CollectionOptions options,
                MVMap<Object, Document> dataMap, MVMap<String, Object> metaMap, CursorRegistry cursorRegistry,
                String namespace) {
            super(database, collectionName, options, dataMap, metaMap, cursorRegistry);
            this.counts = plans(namespace);
        }

        @Override
        protected QueryResult queryDocuments(Document query, Document orderBy, int numberToSkip, int limit,
                int batchSize, Document fieldSelector) {
            String idField = getIdField();
            if (idField != null && query.containsKey(idField)) {
                Object idCondition = query.get(idField);
                Document byId = new Document(idField, idCondition);
                for (Index<Object> index : getIndexes()) {
                    if (isIdIndex(index, idField) && index.canHandle(byId)) {
                        counts[query.size() > 1 ? 0 : 1].increment();
                        // The other fields are matched on the documents found, as without an index.
                        // An _id condition the index answers exactly is not matched again: the
                        // library's matcher checks each document against every value of an $in,
                        // so reading 500 documents by _id compared 250,000 pairs.
                        Document rest = query;
                        if (answeredExactly(idCondition)) {
                            rest = new Document(query);
                            rest.remove(idField);
                        }
                        return matchDocuments(rest, index.getPositions(byId), orderBy, numberToSkip, limit,
                                batchSize, fieldSelector);
                    }
                }
            }
            boolean indexed = getIndexes().stream().anyMatch(index -> index.canHandle(query));
            counts[indexed ? 1 : 2].increment();
            return super.queryDocuments(query, orderBy, numberToSkip, limit, batchSize, fieldSelector);
        }

        /**
         * An _id equal to a string or ObjectId, or in a list of them: the index finds exactly the
         * documents the matcher would keep. Anything else (numbers, embedded documents, regular
         * expressions, other operators) is matched again as before.
         */
        private static boolean answeredExactly(Object idCondition) {
            if (plainId(idCondition)) {
                return true;
            }
            if (idCondition instanceof Document condition && condition.size() == 1
                    && condition.get("$in") instanceof Collection<?> values) {
                return values.stream().allMatch(IdFirstCollection::plainId);
            }
            return false;
        }

        private static boolean plainId(Object value) {
            return value instanceof String || value instanceof ObjectId;
        }

        private static boolean isIdIndex(Index<Object> index, String idField) {
            return index.isUnique() && index.getKeys().size() == 1
                    && idField.equals(index.getKeys().get(0).getKey());
        }
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
            store = MVStore.open(file);
            backend = new IdFirstBackend(store);
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
