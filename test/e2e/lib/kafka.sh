# shellcheck shell=bash
# One-node Apache Kafka in KRaft combined mode (sourced by test/e2e/env).

KAFKA_DIR="$RUN/kafka"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_HEAP=${LAGSCALE_E2E_KAFKA_HEAP:--Xms256m -Xmx768m}

kafka_write_config() {
  mkdir -p "$KAFKA_DIR"
  cat >"$KAFKA_DIR/server.properties" <<EOF
# written by test/e2e/env
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_SSL_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_SSL_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DATA

# SASL_SSL: SCRAM-SHA-512 users are created at format time (--add-scram)
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location=$PKI/kafka.p12
ssl.keystore.password=$KAFKA_KEYSTORE_PASSWORD
ssl.key.password=$KAFKA_KEYSTORE_PASSWORD
ssl.client.auth=none

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
      share.coordinator.state.topic.min.isr=1 >>"$KAFKA_DIR/server.properties"
  fi
  # broker logging (stdout, redirected to $LOGS/kafka.log): log4j 1 for 3.x,
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
kafka_java_cmd() { # kafka_java_cmd MAINCLASS ARGS...
  # shellcheck disable=SC2206
  local heap=($KAFKA_HEAP)
  KAFKA_CMD=("$JAVA" "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true
    -Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties"
    -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties"
    -Dkafka.logs.dir="$LOGS" -cp "$KAFKA_CLASSPATH" "$@")
}

kafka_format() {
  local cluster_id out
  cluster_id=$("$JAVA" -cp "$KAFKA_CLASSPATH" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)
  [ -n "$cluster_id" ] || die "kafka: StorageTool random-uuid failed"
  log "kafka: formatting $KAFKA_DATA (cluster $cluster_id, SCRAM user $SCRAM_USER)"
  KAFKA_HEAP="-Xmx256m" kafka_java_cmd kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$KAFKA_DIR/server.properties" \
    --add-scram "SCRAM-SHA-512=[name=$SCRAM_USER,password=$(cat "$PKI/scram-password")]"
  if ! out=$("${KAFKA_CMD[@]}" 2>&1); then
    printf '%s\n' "$out" >&2
    die "kafka: storage format failed"
  fi
}

kafka_start() {
  require_ports_free kafka "$KAFKA_PORT" "$KAFKA_SASL_SSL_PORT" "$KAFKA_CONTROLLER_PORT"
  kafka_write_config
  [ -f "$KAFKA_DATA/meta.properties" ] || kafka_format
  kafka_java_cmd kafka.Kafka "$KAFKA_DIR/server.properties"
  start_daemon kafka "${KAFKA_CMD[@]}"
  wait_ready kafka "$KAFKA_TIMEOUT" kafka_healthy
}

# librdkafka 2.0.2 fails SCRAM against Kafka >= 4.0 (see README.md)
librdkafka_scram_ok() { [ "$KAFKA_MAJOR" -lt 4 ]; }

# Metadata through librdkafka (kcat) on both client listeners. With Kafka 4.x
# SASL_SSL is only checked for a verified TLS handshake.
kafka_metadata_ok() { # kafka_metadata_ok plaintext|sasl_ssl
  local out
  if [ "$1" = sasl_ssl ] && ! librdkafka_scram_ok; then
    openssl s_client -connect "127.0.0.1:$KAFKA_SASL_SSL_PORT" -verify_return_error \
      -CAfile "$PKI/kafka-ca.crt" -verify_ip 127.0.0.1 </dev/null >/dev/null 2>&1
    return
  fi
  if [ "$1" = plaintext ]; then
    out=$(timeout 15 "$KCAT" -L -b "127.0.0.1:$KAFKA_PORT" -m 5 2>&1) || return 1
  else
    out=$(timeout 15 "$KCAT" -L -b "127.0.0.1:$KAFKA_SASL_SSL_PORT" -m 5 \
      -X security.protocol=SASL_SSL -X sasl.mechanisms=SCRAM-SHA-512 \
      -X sasl.username="$SCRAM_USER" -X sasl.password="$(cat "$PKI/scram-password")" \
      -X ssl.ca.location="$PKI/kafka-ca.crt" 2>&1) || return 1
  fi
  grep -q ' 1 brokers:' <<<"$out"
}

kafka_healthy() {
  pid_alive kafka && kafka_metadata_ok plaintext && kafka_metadata_ok sasl_ssl
}
