#!/usr/bin/env bash
# Local, no-Docker infrastructure for driverhome: Kafka 4.1.1 (KRaft, one combined
# broker+controller node) and a MongoDB stand-in (mongo-java-server, H2 on-disk backend).
# Both run as plain JVM processes and listen on 127.0.0.1 only.
#
# usage: deploy/local/infra.sh <command>
#   up              start what is not running, then `wait` (idempotent)
#   down [--purge]  stop both (SIGTERM, then SIGKILL after ${INFRA_STOP_TIMEOUT:-20}s);
#                   --purge also deletes the data (Kafka log dirs, Mongo data file, logs)
#   purge           same as `down --purge`
#   status          one line per server; exit 0 only if both are up
#   wait            wait until a real Kafka produce/consume round trip and a real Mongo
#                   ping+insert+find work (timeout ${INFRA_WAIT_TIMEOUT:-90}s); see ready.py
#   logs [kafka|mongo] [-f] [-n N]   show (or follow) the server logs
#   access          give partners registered through the partners API their topic, Kafka user
#                   and grants (as deploy/access.yaml grants the catalogue's); `up` does it too
#
# environment:
#   KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), MONGO_PORT (27017)
#   DRIVERHOME_INFRA_DIR   data, logs, pid files (default <repo>/.infra, git-ignored)
#   DRIVERHOME_CACHE       jar cache (default ~/.cache/driverhome); jars are resolved
#                          once per pom content with `mvn dependency:copy-dependencies`
#   INFRA_WAIT_TIMEOUT (90), INFRA_STOP_TIMEOUT (20)
#   DRIVERHOME_KAFKA_AUTH  on (default): SASL/SCRAM + ACLs from deploy/access.yaml, credentials
#                          in $DRIVERHOME_INFRA_DIR/kafka/credentials.json; off: new storage
#                          without authentication
#   KAFKA_HEAP_OPTS ("-Xms512m -Xmx1g"), MONGO_HEAP_OPTS ("-Xmx2g"), INFRA_PYTHON
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd -P)

HOST=127.0.0.1
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
MONGO_PORT=${MONGO_PORT:-27017}
WAIT_TIMEOUT=${INFRA_WAIT_TIMEOUT:-90}
STOP_TIMEOUT=${INFRA_STOP_TIMEOUT:-20}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms512m -Xmx1g}
MONGO_HEAP_OPTS=${MONGO_HEAP_OPTS:--Xmx2g}
CACHE_DIR=${DRIVERHOME_CACHE:-${HOME:-/tmp}/.cache/driverhome}
INFRA_DIR=${DRIVERHOME_INFRA_DIR:-$REPO_ROOT/.infra}
case $INFRA_DIR in /*) ;; *) INFRA_DIR=$PWD/$INFRA_DIR ;; esac
case $CACHE_DIR in /*) ;; *) CACHE_DIR=$PWD/$CACHE_DIR ;; esac

KAFKA_DIR=$INFRA_DIR/kafka         # server.properties, cluster.id, data/ (log.dirs)
MONGO_DIR=$INFRA_DIR/mongo         # driverhome.mv (H2 MVStore file)
LOG_DIR=$INFRA_DIR/logs            # kafka.log (log4j2), kafka.out (JVM stdout/stderr), mongo.log
RUN_DIR=$INFRA_DIR/run             # kafka.pid, mongo.pid
COMPONENTS=(kafka mongo)

# ----------------------------------------------------------------------------- helpers
say() { printf 'infra: %s\n' "$*"; }
warn() { printf 'infra: %s\n' "$*" >&2; }
die() { printf 'infra: error: %s\n' "$*" >&2; exit 1; }

for _n in KAFKA_PORT KAFKA_CONTROLLER_PORT MONGO_PORT WAIT_TIMEOUT STOP_TIMEOUT; do
    [[ ${!_n} =~ ^[0-9]+$ ]] || die "$_n must be a number, got '${!_n}'"
done

pid_file() { printf '%s/%s.pid' "$RUN_DIR" "$1"; }
log_file() { case $1 in kafka) printf '%s/kafka.log' "$LOG_DIR" ;; mongo) printf '%s/mongo.log' "$LOG_DIR" ;; esac; }
out_file() { case $1 in kafka) printf '%s/kafka.out' "$LOG_DIR" ;; mongo) printf '%s/mongo.log' "$LOG_DIR" ;; esac; }
ports_of() { case $1 in kafka) echo "$KAFKA_PORT $KAFKA_CONTROLLER_PORT" ;; mongo) echo "$MONGO_PORT" ;; esac; }
port_env() {
    case $1 in
        "$KAFKA_PORT") echo KAFKA_PORT ;;
        "$KAFKA_CONTROLLER_PORT") echo KAFKA_CONTROLLER_PORT ;;
        *) echo MONGO_PORT ;;
    esac
}

# Every JVM we start carries these two markers, so a pid is only ever "ours" if its
# command line has them (guards against pid reuse and against killing foreign processes).
marker_args() { printf -- '-Ddriverhome.infra.component=%s\n-Ddriverhome.infra.dir=%s\n' "$1" "$INFRA_DIR"; }

proc_cmdline() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true; }

proc_alive() { # alive and not a zombie
    local pid=$1 stat
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

is_ours() { # pid component
    proc_alive "$1" || return 1
    local cmd
    cmd=$(proc_cmdline "$1")
    [[ $cmd == *"-Ddriverhome.infra.component=$2 "* && $cmd == *"-Ddriverhome.infra.dir=$INFRA_DIR "* ]]
}

# Prints the pid if the component runs (ours, alive); removes a stale pid file.
running_pid() {
    local f pid
    f=$(pid_file "$1")
    [[ -f $f ]] || return 1
    pid=$(<"$f")
    if is_ours "$pid" "$1"; then
        echo "$pid"
        return 0
    fi
    rm -f -- "$f"
    return 1
}

port_open() { # something accepts connections on 127.0.0.1:port
    timeout 2 bash -c ": <>/dev/tcp/$HOST/$1" 2>/dev/null
}

port_owner() { # best effort "pid N (cmdline)" of the listener on port
    local line pid
    command -v ss >/dev/null 2>&1 || { echo "unknown process"; return; }
    line=$(ss -ltnpH "( sport = :$1 )" 2>/dev/null | head -n1 || true)
    if [[ $line =~ pid=([0-9]+) ]]; then
        pid=${BASH_REMATCH[1]}
        local cmd
        cmd=$(proc_cmdline "$pid")
        cmd=${cmd% }
        [[ ${#cmd} -gt 160 ]] && cmd="${cmd:0:157}..."
        echo "pid $pid ($cmd)"
    else
        echo "another process"
    fi
}

check_port_free() { # component port
    if port_open "$2"; then
        local owner hint=""
        owner=$(port_owner "$2")
        [[ $owner == *"-Ddriverhome.infra.component="* ]] &&
            hint=" — a driverhome $1 from another infra dir? (kill it, or use a different port)"
        die "port $HOST:$2 needed by $1 is already in use by $owner$hint; free it or set $(port_env "$2")"
    fi
}

# Size of each log file when we started the server: tail_log shows only what came after.
mark_logs() { # component
    local f
    for f in "$(out_file "$1")" "$(log_file "$1")"; do
        printf '%s %s\n' "$f" "$(stat -c %s -- "$f" 2>/dev/null || echo 0)"
    done >"$RUN_DIR/$1.logmark"
}

tail_log() { # component [lines]: JVM stdout/stderr, then the log file, since our last start
    local n=${2:-40} f seen="" off text mark=$RUN_DIR/$1.logmark
    for f in "$(out_file "$1")" "$(log_file "$1")"; do
        [[ -s $f && $f != "$seen" ]] || continue
        seen=$f
        off=$(awk -v f="$f" '$1 == f { print $2 }' "$mark" 2>/dev/null | tail -n1)
        [[ $off =~ ^[0-9]+$ && $off -le $(stat -c %s -- "$f") ]] || off=0 # rolled over
        text=$(tail -c "+$((off + 1))" -- "$f" | tail -n "$n")
        [[ -n $text ]] || continue
        printf -- '----- %s (last %s lines) -----\n%s\n' "$f" "$n" "$text" >&2
    done
}

need_java() {
    command -v java >/dev/null 2>&1 || die "java not found on PATH (need a JDK 17+, e.g. apt-get install openjdk-17-jdk-headless)"
    local props v
    props=$(java -XshowSettings:properties -version 2>&1 || true)
    v=$(sed -n 's/^ *java\.specification\.version = //p' <<<"$props" | head -n1)
    JAVA_ID=$(sed -n 's/^ *java\.\(home\|vm\.version\) = //p' <<<"$props" | tr '\n' ' ')
    [[ -n $v ]] || die "'java' on PATH does not run ($(command -v java))"
    [[ ${v%%.*} -ge 17 ]] || die "java $v found, Kafka 4.1 needs Java 17+"
}

pick_python() {
    if [[ -n ${INFRA_PYTHON:-} ]]; then
        PY=("$INFRA_PYTHON")
    elif [[ -x $REPO_ROOT/.venv/bin/python ]]; then
        PY=("$REPO_ROOT/.venv/bin/python")
    elif command -v uv >/dev/null 2>&1; then
        PY=(uv run --no-sync --project "$REPO_ROOT" python)
    else
        die "no Python for the readiness check: $REPO_ROOT/.venv is missing (run 'uv sync') and uv is not on PATH"
    fi
}

acquire_lock() {
    mkdir -p -- "$INFRA_DIR"
    exec 9>"$INFRA_DIR/.lock"
    flock -w 120 9 || die "another infra.sh is running on $INFRA_DIR (lock $INFRA_DIR/.lock held > 120s)"
}

# ----------------------------------------------------------------------------- jars
# ensure_jars <kafka|mongo>: sets JARS to the cached lib dir; resolves with mvn on a cold cache.
ensure_jars() {
    local name=$1 pom sha dir tmp
    pom=$SCRIPT_DIR/$name/pom.xml
    [[ -f $pom ]] || die "missing $pom"
    sha=$(sha256sum -- "$pom" | cut -c1-16)
    dir=$CACHE_DIR/jars/$name-$sha
    if [[ ! -f $dir/.complete ]]; then
        command -v mvn >/dev/null 2>&1 ||
            die "mvn not found on PATH; it is needed once to resolve the $name jars into $dir (apt-get install maven)"
        say "resolving ${name^} jars (first run, mvn -B -q, cached in $dir)..."
        mkdir -p -- "$CACHE_DIR/jars"
        tmp=$(mktemp -d "$CACHE_DIR/jars/.tmp-$name-XXXXXX")
        cp -- "$pom" "$tmp/pom.xml"
        if ! (cd -- "$tmp" && mvn -B -q -Dstyle.color=never dependency:copy-dependencies \
            -DoutputDirectory="$tmp/lib" </dev/null >"$tmp/mvn.log" 2>&1 9>&-); then
            warn "mvn output (last 30 lines):"
            tail -n 30 -- "$tmp/mvn.log" >&2 || true
            cp -- "$tmp/mvn.log" "$CACHE_DIR/jars/mvn-$name-failed.log" 2>/dev/null || true
            rm -rf -- "$tmp"
            die "could not resolve the $name jars with mvn (log: $CACHE_DIR/jars/mvn-$name-failed.log)"
        fi
        compgen -G "$tmp/lib/*.jar" >/dev/null || { rm -rf -- "$tmp"; die "mvn resolved no jars for $name"; }
        (cd -- "$tmp/lib" && ls -1 -- *.jar) >"$tmp/lib/.complete"
        rm -rf -- "$dir"
        mv -T -- "$tmp/lib" "$dir"
        rm -rf -- "$tmp"
    fi
    JARS=$dir
}

# ensure_launcher: compiles MongoLauncher.java once per (source, jar set); sets LAUNCHER_CP.
ensure_launcher() {
    local src=$SCRIPT_DIR/mongo/MongoLauncher.java sha dir tmp
    sha=$( { sha256sum -- "$src"; echo "$JARS"; } | sha256sum | cut -c1-16)
    dir=$CACHE_DIR/classes/mongo-launcher-$sha
    if [[ ! -f $dir/MongoLauncher.class ]]; then
        command -v javac >/dev/null 2>&1 || die "javac not found (need a full JDK 17+, not just a JRE)"
        mkdir -p -- "$CACHE_DIR/classes"
        tmp=$(mktemp -d "$CACHE_DIR/classes/.tmp-XXXXXX")
        if ! javac -nowarn -d "$tmp" -cp "$JARS/*" "$src" >"$tmp/javac.log" 2>&1; then
            cat -- "$tmp/javac.log" >&2
            rm -rf -- "$tmp"
            die "could not compile $src"
        fi
        rm -f -- "$tmp/javac.log"
        rm -rf -- "$dir"
        mv -T -- "$tmp" "$dir"
    fi
    LAUNCHER_CP=$dir
}

# ----------------------------------------------------------------------------- kafka
# Security (issue 12): SASL/SCRAM-SHA-512 on the client listener, the standard authorizer with
# deny-by-default, ACLs from deploy/access.yaml. Users and their random development passwords
# are made once per data folder ($CREDS, git-ignored) and created at format time. Storage
# formatted before this existed (no $CREDS) keeps running unauthenticated until purged.
CREDS=$KAFKA_DIR/credentials.json
PARTNERS_FILE=$KAFKA_DIR/registered-partners.json # partners.events, as last read by `access`
# DRIVERHOME_KAFKA_AUTH=off formats new storage without it (for harnesses not yet carrying
# credentials; `make chaos` until its clients do).
kafka_secured() {
    [[ -f $CREDS ]] && return 0
    [[ ! -f $KAFKA_DIR/data/meta.properties && ${DRIVERHOME_KAFKA_AUTH:-on} != off ]]
}

access_py() { pick_python; "${PY[@]}" -m common.access --partners "$PARTNERS_FILE" "$@" 9>&-; }
sync_py() { pick_python; DRIVERHOME_ENVIRONMENT="${DRIVERHOME_ENVIRONMENT:-development}" "${PY[@]}" -m common.access_sync "$@" 9>&-; }

prepare_kafka_credentials() {
    if ! kafka_secured; then
        warn "Kafka storage predates authentication (no $CREDS): running it without; '$0 purge' secures it"
        return 0
    fi
    mkdir -p -- "$KAFKA_DIR"
    access_py credentials "$CREDS" --bootstrap "$HOST:$KAFKA_PORT" || die "could not write $CREDS"
}

kafka_security_config() {
    if ! kafka_secured; then
        printf '%s\n' "listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT" \
            "advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT" \
            "inter.broker.listener.name=PLAINTEXT" \
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
        return 0
    fi
    local pw superusers
    pw=$("${PY[@]}" -c 'import json,sys; print(json.load(open(sys.argv[1]))["users"]["broker"])' "$CREDS")
    superusers=$(access_py superusers)
    printf '%s\n' \
        "listeners=CLIENT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT" \
        "advertised.listeners=CLIENT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT" \
        "inter.broker.listener.name=CLIENT" \
        "listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,CLIENT:SASL_PLAINTEXT" \
        "# Clients and the broker itself: SCRAM (users live in the cluster metadata)." \
        "sasl.enabled.mechanisms=SCRAM-SHA-512" \
        "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512" \
        "listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"broker\" password=\"$pw\";" \
        "# The controller listener (loopback) cannot use SCRAM, which needs the metadata it serves:" \
        "# PLAIN with the broker's own user, so nobody else talks to the controller." \
        "sasl.mechanism.controller.protocol=PLAIN" \
        "listener.name.controller.sasl.enabled.mechanisms=PLAIN" \
        "listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\"$pw\" user_broker=\"$pw\";" \
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer" \
        "allow.everyone.if.no.acl.found=false" \
        "super.users=$superusers"
}

write_kafka_config() {
    mkdir -p -- "$KAFKA_DIR/data" "$LOG_DIR"
    # It holds the broker's (super user's) password: readable by its owner only. The chmod
    # also tightens a file an earlier version wrote world-readable (`>` keeps its mode).
    chmod 700 "$KAFKA_DIR"
    (umask 077 && : >"$KAFKA_DIR/server.properties")
    chmod 600 "$KAFKA_DIR/server.properties"
    cat >"$KAFKA_DIR/server.properties" <<EOF
# Generated by deploy/local/infra.sh on every 'up' — edit the script, not this file.
# Single combined KRaft node (broker + controller), local development only.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
$(kafka_security_config)

log.dirs=$KAFKA_DIR/data

# Topics are created explicitly by the services (admin client); nothing is auto-created.
auto.create.topics.enable=false
num.partitions=12
default.replication.factor=1
min.insync.replicas=1

# Internal topics: replication factor 1 everywhere (single node).
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# No 3 s wait before the first consumer-group rebalance.
group.initial.rebalance.delay.ms=0

# Largest record batch the broker accepts: 1048588 bytes is the Kafka default (1 MiB + 12),
# stated explicitly so producers' max.request.size / services' payload limits can be checked.
message.max.bytes=1048588

# Local disk hygiene: keep a week, 256 MiB segments.
log.retention.hours=168
log.segment.bytes=268435456
EOF
}

# Class-data sharing (AppCDS) roughly halves Kafka's start-up on this 2-core box: the first
# run records its loaded classes at exit (-XX:ArchiveClassesAtExit, written when `down` stops
# it cleanly), later runs map the archive. Keyed by jar set + JVM; a stale or unusable archive
# is silently ignored by the JVM. INFRA_KAFKA_CDS=0 disables it.
kafka_cds_opts() {
    KAFKA_CDS_OPTS=()
    finish_kafka_cds 0 # leftover of a Kafka that died on its own
    [[ ${INFRA_KAFKA_CDS:-1} == 1 ]] || return 0
    local key archive
    key=$(printf '%s %s' "$KAFKA_JARS" "$JAVA_ID" | sha256sum | cut -c1-16)
    archive=$CACHE_DIR/cds/kafka-$key.jsa
    if [[ -s $archive ]]; then
        KAFKA_CDS_OPTS=(-XX:SharedArchiveFile="$archive" "-Xlog:cds*=off")
    else
        mkdir -p -- "$CACHE_DIR/cds"
        KAFKA_CDS_OPTS=(-XX:ArchiveClassesAtExit="$archive.tmp.$$" "-Xlog:cds*=off")
        printf '%s\n%s\n' "$archive.tmp.$$" "$archive" >"$RUN_DIR/kafka.cds"
    fi
}

# Called once the Kafka JVM is gone: publish the archive it dumped at exit (only after a
# clean exit; a SIGKILLed dump may be truncated).
finish_kafka_cds() { # clean(1|0)
    local f=$RUN_DIR/kafka.cds tmp final
    [[ -f $f ]] || return 0
    { read -r tmp; read -r final; } <"$f" || true
    if [[ $1 == 1 && -s ${tmp:-} ]]; then mv -f -- "$tmp" "$final"; else rm -f -- "${tmp:-}"; fi
    rm -f -- "$f"
}

kafka_java_opts() {
    # shellcheck disable=SC2206
    local heap=($KAFKA_HEAP_OPTS)
    kafka_cds_opts
    KAFKA_JAVA=(java "${heap[@]}" -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20
        -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
        -Djava.awt.headless=true "${KAFKA_CDS_OPTS[@]}"
        "-Dkafka.logs.dir=$LOG_DIR"
        "-Dlog4j2.configurationFile=$SCRIPT_DIR/kafka/log4j2.properties"
        -cp "$KAFKA_JARS/*")
}

format_kafka_if_needed() {
    local meta=$KAFKA_DIR/data/meta.properties stamp=$KAFKA_DIR/formatted-controller
    if [[ -f $meta ]]; then
        if [[ -f $stamp && $(<"$stamp") != "$HOST:$KAFKA_CONTROLLER_PORT" ]]; then
            die "Kafka storage was formatted for controller $(<"$stamp"), not $HOST:$KAFKA_CONTROLLER_PORT; run '$0 purge' or set KAFKA_CONTROLLER_PORT back"
        fi
        return 0
    fi
    local id
    if [[ -s $KAFKA_DIR/cluster.id ]]; then
        id=$(<"$KAFKA_DIR/cluster.id")
    else
        id=$(java -cp "$KAFKA_JARS/*" -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2.properties" \
            "-Dkafka.logs.dir=$LOG_DIR" kafka.tools.StorageTool random-uuid 2>>"$LOG_DIR/kafka.out" 9>&- | tail -n1) ||
            die "kafka.tools.StorageTool random-uuid failed (see $LOG_DIR/kafka.out)"
        [[ $id =~ ^[A-Za-z0-9_-]{22}$ ]] || die "unexpected cluster id from StorageTool: '$id'"
        echo "$id" >"$KAFKA_DIR/cluster.id"
    fi
    say "formatting Kafka storage (cluster id $id)"
    local scram=() line
    if kafka_secured; then # every user of the access table, with its development password
        while IFS= read -r line; do scram+=(--add-scram "$line"); done < <(access_py scram-args "$CREDS")
    fi
    if ! java -cp "$KAFKA_JARS/*" -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2.properties" \
        "-Dkafka.logs.dir=$LOG_DIR" kafka.tools.StorageTool format --standalone \
        -t "$id" -c "$KAFKA_DIR/server.properties" "${scram[@]}" >>"$LOG_DIR/kafka.out" 2>&1 9>&-; then
        tail -n 20 -- "$LOG_DIR/kafka.out" >&2
        die "kafka.tools.StorageTool format failed (log: $LOG_DIR/kafka.out)"
    fi
    echo "$HOST:$KAFKA_CONTROLLER_PORT" >"$stamp"
}

start_kafka() {
    prepare_kafka_credentials
    write_kafka_config
    format_kafka_if_needed
    kafka_java_opts
    local markers
    mapfile -t markers < <(marker_args kafka)
    printf -- '===== %s infra.sh start kafka =====\n' "$(date '+%F %T')" >>"$LOG_DIR/kafka.out"
    mark_logs kafka
    setsid "${KAFKA_JAVA[@]}" "${markers[@]}" kafka.Kafka "$KAFKA_DIR/server.properties" \
        </dev/null >>"$LOG_DIR/kafka.out" 2>&1 9>&- &
    echo $! >"$(pid_file kafka)"
    STARTED+=(kafka)
    say "started Kafka 4.1.1 (pid $!) on $HOST:$KAFKA_PORT (controller $HOST:$KAFKA_CONTROLLER_PORT)"
}

# ----------------------------------------------------------------------------- mongo
start_mongo() {
    mkdir -p -- "$MONGO_DIR" "$LOG_DIR"
    # shellcheck disable=SC2206
    local heap=($MONGO_HEAP_OPTS) markers
    mapfile -t markers < <(marker_args mongo)
    printf -- '===== %s infra.sh start mongo =====\n' "$(date '+%F %T')" >>"$LOG_DIR/mongo.log"
    mark_logs mongo
    setsid java "${heap[@]}" -Djava.awt.headless=true \
        -Dorg.slf4j.simpleLogger.showDateTime=true \
        "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS" \
        -Dorg.slf4j.simpleLogger.log.de.bwaldvogel.mongo.wire.MongoWireProtocolHandler=warn \
        "${markers[@]}" -cp "$MONGO_JARS/*:$LAUNCHER_CP" MongoLauncher \
        --host "$HOST" --port "$MONGO_PORT" --file "$MONGO_DIR/driverhome.mv" \
        </dev/null >>"$LOG_DIR/mongo.log" 2>&1 9>&- &
    echo $! >"$(pid_file mongo)"
    STARTED+=(mongo)
    say "started mongo-java-server 1.47.0 / H2 (pid $!) on $HOST:$MONGO_PORT"
}

# ----------------------------------------------------------------------------- stop
# stop_components c1 c2 ...: SIGTERM all, wait up to STOP_TIMEOUT, then SIGKILL.
stop_components() {
    local c pid pids=() names=() i deadline
    for c in "$@"; do
        if pid=$(running_pid "$c"); then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
            names+=("$c")
            say "stopping $c (pid $pid)..."
        else
            rm -f -- "$(pid_file "$c")"
        fi
    done
    [[ ${#pids[@]} -eq 0 ]] && return 0
    deadline=$((SECONDS + STOP_TIMEOUT))
    while ((SECONDS < deadline)); do
        local alive=0
        for pid in "${pids[@]}"; do proc_alive "$pid" && alive=1; done
        ((alive)) || break
        sleep 0.2
    done
    local killed=()
    for i in "${!pids[@]}"; do
        killed[i]=0
        if proc_alive "${pids[$i]}"; then
            warn "${names[$i]} (pid ${pids[$i]}) did not stop within ${STOP_TIMEOUT}s; sending SIGKILL"
            kill -KILL "${pids[$i]}" 2>/dev/null || true
            killed[i]=1
        fi
        rm -f -- "$(pid_file "${names[$i]}")"
    done
    for i in "${!pids[@]}"; do
        while proc_alive "${pids[$i]}"; do sleep 0.1; done
        [[ ${names[$i]} == kafka ]] && finish_kafka_cds "$((1 - killed[i]))"
        say "${names[$i]} stopped"
    done
}

# ----------------------------------------------------------------------------- readiness
# run_ready <timeout>: real round trips via ready.py; fails fast if a watched server dies.
run_ready() {
    local timeout=$1 c f pid watch=() rc=0
    pick_python
    for c in "${COMPONENTS[@]}"; do # a dead pid here makes ready.py fail at once
        f=$(pid_file "$c")
        if [[ -f $f ]]; then
            pid=$(<"$f")
            if [[ $pid =~ ^[0-9]+$ ]]; then watch+=(--watch "$c=$pid"); fi
        fi
    done
    local auth=()
    [[ -f $CREDS ]] && auth=(--credentials "$CREDS") # ready.py authenticates as the admin
    "${PY[@]}" "$SCRIPT_DIR/ready.py" --kafka "$HOST:$KAFKA_PORT" \
        --mongo "mongodb://$HOST:$MONGO_PORT/" --timeout "$timeout" "${auth[@]}" "${watch[@]}" 9>&- || rc=$?
    if ((rc == 3)); then # a watched server process exited
        for c in "${COMPONENTS[@]}"; do
            f=$(pid_file "$c")
            if [[ -f $f ]] && ! proc_alive "$(<"$f")"; then
                tail_log "$c"
                rm -f -- "$f"
                die "$c process exited (during start-up?); full log: $(log_file "$c")"
            fi
        done
    fi
    return "$rc"
}

# apply_access: the users and ACLs of deploy/access.yaml (idempotent; a secured broker only).
# Users are created at format time; one added to the table later is created here.
apply_access() {
    [[ -f $CREDS ]] || return 0
    local user pw admin_cfg=$KAFKA_DIR/admin.properties
    # Partners registered through the API since: read from partners.events (admin), so their
    # users, grants and topics follow the table like the catalogue's.
    sync_py registered "$CREDS" --out "$PARTNERS_FILE" >&2 ||
        warn "could not read partners.events; only the catalogue's partners get grants"
    access_py credentials "$CREDS" --bootstrap "$HOST:$KAFKA_PORT" || die "could not update $CREDS"
    while read -r user pw; do
        [[ -n $user ]] || continue
        if [[ ! -f $admin_cfg ]]; then
            ensure_jars kafka
            KAFKA_JARS=$JARS
            (umask 077 && printf '%s\n' "security.protocol=SASL_PLAINTEXT" "sasl.mechanism=SCRAM-SHA-512" \
                "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$(access_py password "$CREDS" admin)\";" >"$admin_cfg")
        fi
        say "creating Kafka user $user (new in deploy/access.yaml)"
        java -cp "$KAFKA_JARS/*" -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2.properties" \
            "-Dkafka.logs.dir=$LOG_DIR" kafka.admin.ConfigCommand --bootstrap-server "$HOST:$KAFKA_PORT" \
            --command-config "$admin_cfg" --alter --entity-type users --entity-name "$user" \
            --add-config "SCRAM-SHA-512=[password=$pw]" >>"$LOG_DIR/kafka.out" 2>&1 9>&- ||
            die "could not create Kafka user $user (log: $LOG_DIR/kafka.out)"
        access_py registered "$CREDS" "$user"
    done < <(access_py unregistered "$CREDS")
    rm -f -- "$admin_cfg"
    access_py apply "$CREDS" >&2 || die "could not apply the ACLs of deploy/access.yaml"
    if [[ -f $PARTNERS_FILE ]]; then
        sync_py topics "$CREDS" --partners "$PARTNERS_FILE" >&2 ||
            die "could not create the registered partners' topics"
    fi
    say "Kafka requires SASL/SCRAM-SHA-512; development credentials: $CREDS (make kafka-config PRINCIPAL=...)"
}

# ----------------------------------------------------------------------------- commands
STARTED=()
UP_OK=0
on_up_exit() {
    local rc=$?
    if ((!UP_OK)) && ((${#STARTED[@]} > 0)); then
        warn "start-up failed or was interrupted; stopping what this run started: ${STARTED[*]}"
        stop_components "${STARTED[@]}" >&2 || true
    fi
    exit "$rc"
}

cmd_up() {
    local t0=$SECONDS c need=()
    need_java
    mkdir -p -- "$LOG_DIR" "$RUN_DIR"
    acquire_lock
    trap on_up_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    for c in "${COMPONENTS[@]}"; do
        running_pid "$c" >/dev/null || need+=("$c")
    done
    if ((${#need[@]} == 0)); then
        say "kafka (pid $(running_pid kafka)) and mongo (pid $(running_pid mongo)) already running; checking health"
        run_ready "$WAIT_TIMEOUT"
        apply_access
        UP_OK=1
        say "already up"
        return 0
    fi

    # Resolve everything and check every port before starting anything.
    ensure_jars kafka
    KAFKA_JARS=$JARS
    ensure_jars mongo
    MONGO_JARS=$JARS
    ensure_launcher
    for c in "${need[@]}"; do
        for port in $(ports_of "$c"); do check_port_free "$c" "$port"; done
    done

    for c in "${need[@]}"; do "start_$c"; done
    # ready.py starts probing at once (its imports overlap the JVMs' start-up) and exits 3
    # as soon as a started server process dies.
    if ! run_ready "$WAIT_TIMEOUT"; then
        for c in "${need[@]}"; do tail_log "$c" 15; done
        die "not ready within ${WAIT_TIMEOUT}s (INFRA_WAIT_TIMEOUT); logs: $LOG_DIR"
    fi
    apply_access
    UP_OK=1
    say "up in $((SECONDS - t0))s — Kafka $HOST:$KAFKA_PORT, MongoDB $HOST:$MONGO_PORT (data and logs: $INFRA_DIR)"
}

cmd_down() {
    local purge=0 a
    for a in "$@"; do
        case $a in
            --purge) purge=1 ;;
            *) die "down: unknown option '$a' (usage: down [--purge])" ;;
        esac
    done
    if [[ ! -d $INFRA_DIR ]]; then
        say "nothing running (no $INFRA_DIR)"
        return 0
    fi
    acquire_lock
    local any=0 c
    for c in "${COMPONENTS[@]}"; do running_pid "$c" >/dev/null && any=1; done
    if ((any)); then stop_components "${COMPONENTS[@]}"; else say "nothing running"; fi
    if ((purge)); then
        rm -rf -- "$KAFKA_DIR" "$MONGO_DIR" "$LOG_DIR" "$RUN_DIR"
        say "purged data and logs in $INFRA_DIR"
    fi
}

cmd_status() {
    local ok=0 pid
    if pid=$(running_pid kafka); then
        if port_open "$KAFKA_PORT"; then
            say "kafka: up (pid $pid) on $HOST:$KAFKA_PORT, controller $HOST:$KAFKA_CONTROLLER_PORT"
        else
            say "kafka: starting (pid $pid), $HOST:$KAFKA_PORT not open yet"
            ok=1
        fi
    else
        say "kafka: down"
        ok=1
    fi
    if pid=$(running_pid mongo); then
        if port_open "$MONGO_PORT"; then
            say "mongo: up (pid $pid) on $HOST:$MONGO_PORT"
        else
            say "mongo: starting (pid $pid), $HOST:$MONGO_PORT not open yet"
            ok=1
        fi
    else
        say "mongo: down"
        ok=1
    fi
    return "$ok"
}

cmd_access() {
    running_pid kafka >/dev/null || die "kafka is not running (make infra-up)"
    [[ -f $CREDS ]] || die "the broker is not secured (no $CREDS): nothing to grant"
    apply_access
}

cmd_wait() {
    local c
    for c in "${COMPONENTS[@]}"; do
        running_pid "$c" >/dev/null || warn "$c is not running under infra.sh ($INFRA_DIR); checking its port anyway"
    done
    run_ready "$WAIT_TIMEOUT"
}

cmd_logs() {
    local which=() follow=0 n=100
    while (($#)); do
        case $1 in
            kafka | mongo) which+=("$1") ;;
            -f | --follow) follow=1 ;;
            -n) shift; n=${1:?-n needs a number} ;;
            *) die "logs: unknown argument '$1' (usage: logs [kafka|mongo] [-f] [-n N])" ;;
        esac
        shift
    done
    ((${#which[@]})) || which=(kafka mongo)
    local files=() c f
    for c in "${which[@]}"; do
        for f in "$(log_file "$c")" "$(out_file "$c")"; do
            [[ -f $f ]] && [[ " ${files[*]-} " != *" $f "* ]] && files+=("$f")
        done
    done
    ((${#files[@]})) || die "no logs yet in $LOG_DIR"
    if ((follow)); then exec tail -n "$n" -F -- "${files[@]}"; fi
    tail -n "$n" -- "${files[@]}"
}

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

main() {
    local cmd=${1:-}
    (($#)) && shift
    case $cmd in
        up) cmd_up "$@" ;;
        down | stop) cmd_down "$@" ;;
        purge) cmd_down --purge ;;
        status) cmd_status ;;
        wait) cmd_wait ;;
        logs) cmd_logs "$@" ;;
        access) cmd_access ;;
        -h | --help | help) usage ;;
        "") usage >&2; exit 2 ;;
        *) warn "unknown command '$cmd' (commands: up, down [--purge], purge, status, wait, logs, access, help)"; exit 2 ;;
    esac
}

main "$@"
