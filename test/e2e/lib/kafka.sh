# shellcheck shell=bash
# One-node Apache Kafka in KRaft combined mode (sourced by test/e2e/env), or,
# with LAGSCALE_E2E_KAFKA_BROKERS=3, a cluster of three combined nodes (see
# "Three brokers" below).
#
# Listeners (all on 127.0.0.1):
#   PLAINTEXT       no auth; also the inter-broker listener
#   SASL_PLAINTEXT  PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (OIDC)
#   SASL_SSL        the same four, over TLS (broker certificate from kafka-ca)
#   SSL             TLS with ssl.client.auth=required (client cert from kafka-ca)
#   CONTROLLER      KRaft controller, PLAINTEXT

KAFKA_DIR="$RUN/kafka"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_HEAP=${LAGSCALE_E2E_KAFKA_HEAP:--Xms256m -Xmx768m}
# every SASL listener enables all of them
KAFKA_SASL_MECHANISMS=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER
# OAUTHBEARER sessions must re-authenticate this often (KIP-368), so that an
# expired token is noticed on connections that stay open (test_oidc.py)
KAFKA_OAUTH_REAUTH_MS=${LAGSCALE_E2E_KAFKA_REAUTH_MS:-30000}
# Kafka's own JWKS validator, same class name on 3.9 and 4.x
KAFKA_OAUTH_VALIDATOR=org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler

kafka_write_config() {
  mkdir -p "$KAFKA_DIR"
  local l plain_pw
  plain_pw=$(cat "$PKI/plain-password")
  {
    cat <<EOF
# written by test/e2e/env
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PLAINTEXT_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_SSL_PORT,SSL://127.0.0.1:$KAFKA_SSL_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PLAINTEXT_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_SSL_PORT,SSL://127.0.0.1:$KAFKA_SSL_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DATA

# SASL_PLAINTEXT and SASL_SSL: PLAIN (its user is in the JAAS line),
# SCRAM-SHA-256 and SCRAM-SHA-512 (users created at format time with
# --add-scram), OAUTHBEARER (JWTs of the OIDC server, checked against its JWKS)
sasl.enabled.mechanisms=$KAFKA_SASL_MECHANISMS
sasl.oauthbearer.jwks.endpoint.url=http://127.0.0.1:$OIDC_PORT/jwks
sasl.oauthbearer.expected.issuer=$OIDC_ISSUER
sasl.oauthbearer.expected.audience=$OIDC_AUDIENCE
EOF
    for l in sasl_plaintext sasl_ssl; do
      cat <<EOF
listener.name.$l.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$PLAIN_USER="$plain_pw";
listener.name.$l.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.$l.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.$l.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;
listener.name.$l.oauthbearer.sasl.server.callback.handler.class=$KAFKA_OAUTH_VALIDATOR
listener.name.$l.oauthbearer.connections.max.reauth.ms=$KAFKA_OAUTH_REAUTH_MS
EOF
    done
    cat <<EOF

# TLS (SASL_SSL and SSL) with the broker certificate; SSL requires a client
# certificate signed by kafka-ca (mTLS)
ssl.keystore.type=PKCS12
ssl.keystore.location=$PKI/kafka.p12
ssl.keystore.password=$KAFKA_KEYSTORE_PASSWORD
ssl.key.password=$KAFKA_KEYSTORE_PASSWORD
ssl.client.auth=none
listener.name.ssl.ssl.client.auth=required
listener.name.ssl.ssl.truststore.type=PEM
listener.name.ssl.ssl.truststore.location=$PKI/kafka-ca.crt

# one node: internal topics with one replica, transactions allowed
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
EOF
    if [ "$KAFKA_MAJOR" -ge 4 ]; then
      printf '%s\n' share.coordinator.state.topic.replication.factor=1 \
        share.coordinator.state.topic.min.isr=1
    fi
  } >"$KAFKA_DIR/server.properties.tmp"
  chmod 600 "$KAFKA_DIR/server.properties.tmp"
  mv -f "$KAFKA_DIR/server.properties.tmp" "$KAFKA_DIR/server.properties"
  kafka_write_log4j
}

kafka_write_log4j() {
  mkdir -p "$KAFKA_DIR"
  # broker logging (stdout, redirected to $LOGS/kafka.log or kafka-N.log): log4j 1 for 3.x,
  # log4j2 for 4.x; both files are written, each reads its own
  cat >"$KAFKA_DIR/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.zookeeper=WARN
EOF
  cat >"$KAFKA_DIR/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = info
logger.state.name = state.change.logger
logger.state.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
EOF
}

# The broker's java command line (exec'd by start_daemon) or a one-off tool.
# Kafka >= 4.0 (and 3.9.1+ when set) fetches OAUTHBEARER URLs only if they
# are listed in org.apache.kafka.sasl.oauthbearer.allowed.urls.
kafka_java_cmd() { # kafka_java_cmd MAINCLASS ARGS...
  # shellcheck disable=SC2206
  local heap=($KAFKA_HEAP)
  KAFKA_CMD=("$JAVA" "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true
    -Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties"
    -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties"
    -Dorg.apache.kafka.sasl.oauthbearer.allowed.urls="http://127.0.0.1:$OIDC_PORT/jwks"
    -Dkafka.logs.dir="$LOGS" -cp "$KAFKA_CLASSPATH" "$@")
}

# What the data directory was formatted for: a change (another Kafka version,
# other SCRAM users or passwords) means a fresh format.
kafka_format_stamp() {
  { echo "$KAFKA_VERSION $SCRAM_USER SCRAM-SHA-256 SCRAM-SHA-512"; cat "$PKI/scram-password"; } |
    sha256sum | cut -c1-32
}

kafka_format() {
  local cluster_id out pw
  rm -rf "$KAFKA_DATA"
  cluster_id=$("$JAVA" -cp "$KAFKA_CLASSPATH" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)
  [ -n "$cluster_id" ] || die "kafka: StorageTool random-uuid failed"
  pw=$(cat "$PKI/scram-password")
  log "kafka: formatting $KAFKA_DATA (Kafka $KAFKA_VERSION, cluster $cluster_id, SCRAM user $SCRAM_USER)"
  KAFKA_HEAP="-Xmx256m" kafka_java_cmd kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$KAFKA_DIR/server.properties" \
    --add-scram "SCRAM-SHA-256=[name=$SCRAM_USER,password=$pw]" \
    --add-scram "SCRAM-SHA-512=[name=$SCRAM_USER,password=$pw]"
  if ! out=$("${KAFKA_CMD[@]}" 2>&1); then
    printf '%s\n' "$out" >&2
    die "kafka: storage format failed"
  fi
  kafka_format_stamp >"$KAFKA_DIR/format.stamp"
}

kafka_start() {
  require_ports_free kafka "$KAFKA_PORT" "$KAFKA_SASL_PLAINTEXT_PORT" "$KAFKA_SASL_SSL_PORT" \
    "$KAFKA_SSL_PORT" "$KAFKA_CONTROLLER_PORT"
  oidc_healthy || die "kafka: the OIDC server (JWKS for OAUTHBEARER) is not running; run '$ENV_CMD up'"
  kafka_write_config
  if [ ! -f "$KAFKA_DATA/meta.properties" ] ||
    [ "$(cat "$KAFKA_DIR/format.stamp" 2>/dev/null)" != "$(kafka_format_stamp)" ]; then
    kafka_format
  fi
  kafka_java_cmd kafka.Kafka "$KAFKA_DIR/server.properties"
  echo "$KAFKA_VERSION" >"$KAFKA_DIR/version"
  start_daemon kafka "${KAFKA_CMD[@]}"
  wait_ready kafka "$KAFKA_TIMEOUT" kafka_healthy
}

# Readiness and health, cheap enough for every `up`:
#  - PLAINTEXT: a metadata request through librdkafka (Debian's kcat; its
#    librdkafka 2.0.2 is fine without SASL) lists the broker;
#  - SASL_SSL and SSL: a TLS handshake verified against kafka-ca (for SSL
#    with the client certificate), read back from the broker;
#  - SASL_PLAINTEXT: the port accepts connections.
# SASL authentication itself (each mechanism, with lagscale's librdkafka) is
# checked by smoke.sh and the auth tests, not here: kcat's librdkafka cannot
# SCRAM to Kafka 4.x and has no OIDC.
kafka_tls_ok() { # kafka_tls_ok PORT [openssl options...]
  local port=$1
  shift
  local out
  # (captured first: with pipefail, grep -q ending early could SIGPIPE openssl)
  out=$(timeout 10 openssl s_client -connect "127.0.0.1:$port" -verify_return_error \
    -CAfile "$PKI/kafka-ca.crt" -verify_ip 127.0.0.1 "$@" </dev/null 2>&1) || return 1
  grep -q 'Verify return code: 0 (ok)' <<<"$out"
}

kafka_metadata_ok() {
  local out
  out=$(timeout 15 "$KCAT" -L -b "127.0.0.1:$KAFKA_PORT" -m 5 2>&1) || return 1
  grep -q ' 1 brokers:' <<<"$out"
}

kafka_healthy() {
  pid_alive kafka &&
    [ "$(cat "$KAFKA_DIR/version" 2>/dev/null)" = "$KAFKA_VERSION" ] &&
    kafka_metadata_ok &&
    kafka_tls_ok "$KAFKA_SASL_SSL_PORT" &&
    kafka_tls_ok "$KAFKA_SSL_PORT" -cert "$PKI/kafka-client.crt" -key "$PKI/kafka-client.key" &&
    ! port_free "$KAFKA_SASL_PLAINTEXT_PORT"
}

# --- Three brokers ------------------------------------------------------------
# LAGSCALE_E2E_KAFKA_BROKERS=3: three combined broker+controller nodes (ids 1,
# 2, 3) with a three-voter KRaft quorum, PLAINTEXT only (no SASL, TLS or
# OIDC), for broker-failure tests: a rolling restart, the group coordinator
# going away. Internal topics have three replicas and min.insync.replicas 2,
# so one node may be down at a time. Node N listens on the one-node ports
# moved by 10 x (N - 1): PLAINTEXT $KAFKA_PORT + 10(N-1), controller
# $KAFKA_CONTROLLER_PORT + 10(N-1). Each node has its own directory
# ($RUN/kafka/node-N), pid file ($RUN/kafka-N.pid) and log ($LOGS/kafka-N.log).
KAFKA_BROKERS=${LAGSCALE_E2E_KAFKA_BROKERS:-1}
[[ $KAFKA_BROKERS =~ ^[13]$ ]] || die "LAGSCALE_E2E_KAFKA_BROKERS must be 1 or 3, not '$KAFKA_BROKERS'"
# three JVMs: a smaller heap each than the one-node broker's
[ "$KAFKA_BROKERS" = 1 ] || KAFKA_HEAP=${LAGSCALE_E2E_KAFKA_HEAP:--Xms128m -Xmx512m}

kafka_nodes() { seq 1 "$KAFKA_BROKERS"; }
kafka_node_port() { echo $((KAFKA_PORT + 10 * ($1 - 1))); }
kafka_node_controller_port() { echo $((KAFKA_CONTROLLER_PORT + 10 * ($1 - 1))); }

# The PLAINTEXT bootstrap list of every node.
kafka_bootstrap() {
  local n out=
  for n in $(kafka_nodes); do out+="${out:+,}127.0.0.1:$(kafka_node_port "$n")"; done
  echo "$out"
}

kafka_node_write_config() { # kafka_node_write_config N
  local n=$1 d="$KAFKA_DIR/node-$1" voters= m
  for m in $(kafka_nodes); do voters+="${voters:+,}$m@127.0.0.1:$(kafka_node_controller_port "$m")"; done
  mkdir -p "$d"
  {
    cat <<EOF
# written by test/e2e/env (node $n of $KAFKA_BROKERS)
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(kafka_node_port "$n"),CONTROLLER://127.0.0.1:$(kafka_node_controller_port "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(kafka_node_port "$n")
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$d/data

# every partition on every node; one node may be down at a time
num.partitions=1
default.replication.factor=$KAFKA_BROKERS
min.insync.replicas=2
offsets.topic.replication.factor=$KAFKA_BROKERS
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$KAFKA_BROKERS
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
EOF
    if [ "$KAFKA_MAJOR" -ge 4 ]; then
      printf '%s\n' "share.coordinator.state.topic.replication.factor=$KAFKA_BROKERS" \
        share.coordinator.state.topic.min.isr=2
    fi
  } >"$d/server.properties"
}

kafka_node_stamp() { echo "$KAFKA_VERSION brokers=$KAFKA_BROKERS"; }

# Formats every node's data directory for one new cluster id, all at once.
kafka_cluster_format() {
  local cluster_id n pids=() rc=0
  # a Kafka Uuid: 16 random bytes, URL-safe base64 without padding (as
  # `StorageTool random-uuid` prints; made here to spare a JVM start)
  cluster_id=$(openssl rand 16 | base64 | tr '+/' '-_' | tr -d '=')
  [ ${#cluster_id} = 22 ] || die "kafka: could not make a cluster id"
  log "kafka: formatting $KAFKA_BROKERS nodes (Kafka $KAFKA_VERSION, cluster $cluster_id)"
  for n in $(kafka_nodes); do
    rm -rf "$KAFKA_DIR/node-$n/data" "$KAFKA_DIR/node-$n/format.stamp"
    KAFKA_HEAP="-Xmx256m" kafka_java_cmd kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$KAFKA_DIR/node-$n/server.properties"
    "${KAFKA_CMD[@]}" >"$KAFKA_DIR/node-$n/format.log" 2>&1 &
    pids+=($!)
  done
  for n in $(kafka_nodes); do
    if wait "${pids[$((n - 1))]}"; then
      kafka_node_stamp >"$KAFKA_DIR/node-$n/format.stamp"
    else
      cat "$KAFKA_DIR/node-$n/format.log" >&2
      rc=1
    fi
  done
  [ $rc = 0 ] || die "kafka: storage format failed"
}

kafka_node_launch() { # kafka_node_launch N: start node N on its data, no wait
  local n=$1
  require_ports_free "kafka-$n" "$(kafka_node_port "$n")" "$(kafka_node_controller_port "$n")"
  kafka_java_cmd kafka.Kafka "$KAFKA_DIR/node-$n/server.properties"
  start_daemon "kafka-$n" "${KAFKA_CMD[@]}"
}

# Starts every node that is not running (a new cluster is formatted first;
# running nodes are kept: a quorum needs them), then waits until each is
# ready. The nodes start together: no node is ready before a quorum is.
kafka_cluster_start() {
  local n fmt=0 running=0
  kafka_write_log4j
  for n in $(kafka_nodes); do
    kafka_node_write_config "$n"
    pid_alive "kafka-$n" && running=1
    if [ ! -f "$KAFKA_DIR/node-$n/data/meta.properties" ] ||
      [ "$(cat "$KAFKA_DIR/node-$n/format.stamp" 2>/dev/null)" != "$(kafka_node_stamp)" ]; then
      fmt=1
    fi
  done
  if [ $fmt = 1 ]; then
    [ $running = 0 ] || die "kafka: a node needs formatting while others run; run '$ENV_CMD down' first"
    kafka_cluster_format
  fi
  echo "$KAFKA_VERSION" >"$KAFKA_DIR/version"
  for n in $(kafka_nodes); do
    pid_alive "kafka-$n" || kafka_node_launch "$n"
  done
  for n in $(kafka_nodes); do
    wait_ready "kafka-$n" "$KAFKA_TIMEOUT" kafka_node_healthy "$n"
  done
}

# Stops every node (whatever LAGSCALE_E2E_KAFKA_BROKERS says now: `down`
# of the default instance stops named ones without it): all are sent
# SIGTERM first, so that none waits for a quorum the others already left.
# A node whose controlled shutdown began after the others left waits for a
# controller that will not come: after 10 s it gets SIGKILL (the next start
# recovers its logs).
kafka_cluster_stop() {
  local n i
  for n in 1 2 3; do
    if pid_alive "kafka-$n"; then kill -TERM "$(cat "$(pidfile "kafka-$n")")" 2>/dev/null || true; fi
  done
  for ((i = 0; i < 100; i++)); do
    pid_alive kafka-1 || pid_alive kafka-2 || pid_alive kafka-3 || break
    sleep 0.1
  done
  for n in 1 2 3; do
    if pid_alive "kafka-$n"; then
      log "kafka-$n: still running 10 s after SIGTERM with the other nodes, SIGKILL"
      kill -KILL "$(cat "$(pidfile "kafka-$n")")" 2>/dev/null || true
    fi
  done
  for n in 1 2 3; do stop_component "kafka-$n"; done
}

# Node N runs our version and answers a metadata request on its own port
# that lists every node (it has joined the cluster and is not fenced).
kafka_node_healthy() { # kafka_node_healthy N
  local out
  pid_alive "kafka-$1" && [ "$(cat "$KAFKA_DIR/version" 2>/dev/null)" = "$KAFKA_VERSION" ] &&
    out=$(timeout 15 "$KCAT" -L -b "127.0.0.1:$(kafka_node_port "$1")" -m 5 2>&1) &&
    grep -q " $KAFKA_BROKERS brokers:" <<<"$out"
}

kafka_cluster_healthy() {
  local n
  for n in $(kafka_nodes); do kafka_node_healthy "$n" || return 1; done
}

kafka_cluster_running() {
  local n
  for n in $(kafka_nodes); do pid_alive "kafka-$n" && return 0; done
  return 1
}
