# shellcheck shell=bash
# Shared settings and helpers of test/e2e/env (sourced, not run).

# --- instance -------------------------------------------------------------------
# One cache ($H: Go binaries, Maven repository, Kafka jars, Go caches) can hold
# several environments: the default one lives in $H itself, a named one
# (LAGSCALE_E2E_INSTANCE=NAME) in $H/instances/NAME with its own pki/, run/,
# logs/, env file and lock. A named instance usually sets
# LAGSCALE_E2E_PORT_OFFSET (added to every default port) and
# LAGSCALE_E2E_KAFKA_ONLY=1 (no etcd/apiserver), e.g. the Kafka 3.9 one.
INSTANCE=${LAGSCALE_E2E_INSTANCE:-}
[ -z "$INSTANCE" ] || [[ $INSTANCE =~ ^[A-Za-z0-9._-]+$ ]] || {
  echo "[e2e-env] ERROR: bad LAGSCALE_E2E_INSTANCE '$INSTANCE'" >&2
  exit 2
}
if [ -n "$INSTANCE" ]; then I="$H/instances/$INSTANCE"; else I="$H"; fi
mkdir -p "$I"
KAFKA_ONLY=${LAGSCALE_E2E_KAFKA_ONLY:-0}
PORT_OFFSET=${LAGSCALE_E2E_PORT_OFFSET:-0}
[[ $PORT_OFFSET =~ ^[0-9]+$ ]] || { echo "[e2e-env] ERROR: bad LAGSCALE_E2E_PORT_OFFSET" >&2; exit 2; }

# --- ports (all on 127.0.0.1; each one overridable) -------------------------
# Below 32768: Linux gives client sockets ports from 32768-60999
# (ip_local_port_range), and a listener port in that range can be taken by
# some client's connection while its server is stopped (a broker restarted
# by a test then fails to bind: "Address already in use").
KAFKA_PORT=${LAGSCALE_E2E_KAFKA_PORT:-$((19092 + PORT_OFFSET))}
KAFKA_SASL_SSL_PORT=${LAGSCALE_E2E_KAFKA_SASL_SSL_PORT:-$((19093 + PORT_OFFSET))}
KAFKA_CONTROLLER_PORT=${LAGSCALE_E2E_KAFKA_CONTROLLER_PORT:-$((19094 + PORT_OFFSET))}
KAFKA_SASL_PLAINTEXT_PORT=${LAGSCALE_E2E_KAFKA_SASL_PLAINTEXT_PORT:-$((19095 + PORT_OFFSET))}
KAFKA_SSL_PORT=${LAGSCALE_E2E_KAFKA_SSL_PORT:-$((19096 + PORT_OFFSET))}
OIDC_PORT=${LAGSCALE_E2E_OIDC_PORT:-$((19097 + PORT_OFFSET))}
ETCD_PORT=${LAGSCALE_E2E_ETCD_PORT:-$((12379 + PORT_OFFSET))}
ETCD_PEER_PORT=${LAGSCALE_E2E_ETCD_PEER_PORT:-$((12380 + PORT_OFFSET))}
APISERVER_PORT=${LAGSCALE_E2E_APISERVER_PORT:-$((16443 + PORT_OFFSET))}
KCM_PORT=${LAGSCALE_E2E_KCM_PORT:-$((16444 + PORT_OFFSET))}
WITH_KCM=${LAGSCALE_E2E_WITH_KCM:-1}

# --- readiness timeouts (seconds) ------------------------------------------
KAFKA_TIMEOUT=${LAGSCALE_E2E_KAFKA_TIMEOUT:-120}
ETCD_TIMEOUT=${LAGSCALE_E2E_ETCD_TIMEOUT:-60}
APISERVER_TIMEOUT=${LAGSCALE_E2E_APISERVER_TIMEOUT:-120}
KCM_TIMEOUT=${LAGSCALE_E2E_KCM_TIMEOUT:-90}
OIDC_TIMEOUT=${LAGSCALE_E2E_OIDC_TIMEOUT:-30}

# --- layout of the cache ----------------------------------------------------
# shared by every instance of the cache:
BIN="$H/bin"          # built Go binaries (+ .stamp files)
BUILD_LOCK_FILE="$H/build.lock"
# per instance ($I is $H for the default one):
PKI="$I/pki"          # CAs, certificates, keys, tokens, SASL passwords, OIDC key
RUN="$I/run"          # data directories, configs, pid files
LOGS="$I/logs"        # one log per server
ENV_FILE="$I/env"
LOCK_FILE="$I/lock"
mkdir -p "$BIN" "$PKI" "$RUN" "$LOGS"

# (kafka-N: the nodes of a three-broker instance, LAGSCALE_E2E_KAFKA_BROKERS=3)
ALL_COMPONENTS=(oidc kafka kafka-1 kafka-2 kafka-3 etcd kube-apiserver kube-controller-manager)

log() { printf '[e2e-env] %s\n' "$*" >&2; }
die() { printf '[e2e-env] ERROR: %s\n' "$*" >&2; exit 1; }

# Run "$@" holding an exclusive lock on $LOCK_FILE (fd 9), so that concurrent
# `up`/`down`/`build` calls run one after the other. Servers are started with
# fd 9 closed so that they do not hold the lock.
with_lock() {
  exec 9>>"$LOCK_FILE"
  if ! flock -n 9; then
    log "waiting for the lock $LOCK_FILE (another env command is running)"
    flock -w "${LAGSCALE_E2E_LOCK_TIMEOUT:-3600}" 9 || die "timed out waiting for $LOCK_FILE"
  fi
  "$@"
}

# Run "$@" holding the cache-wide build lock (fd 8): builds and downloads into
# the shared bin/, m2/, go/ and kafka/ run one at a time, whichever instance
# asks. Always taken after (never before) an instance lock, so no deadlock.
with_build_lock() {
  exec 8>>"$BUILD_LOCK_FILE"
  if ! flock -n 8; then
    log "waiting for the build lock $BUILD_LOCK_FILE (another build is running)"
    flock -w "${LAGSCALE_E2E_LOCK_TIMEOUT:-3600}" 8 || die "timed out waiting for $BUILD_LOCK_FILE"
  fi
  "$@"
  local rc=$?
  flock -u 8
  exec 8>&-
  return $rc
}

# --- tools ------------------------------------------------------------------
GO=${LAGSCALE_E2E_GO:-}
if [ -z "$GO" ]; then
  if [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go; else GO=$(command -v go || true); fi
fi
JAVA=${LAGSCALE_E2E_JAVA:-$(command -v java || true)}
KCAT=$(command -v kcat || command -v kafkacat || true)

APT_UPDATED=0
apt_install() {
  [ $# -gt 0 ] || return 0
  command -v apt-get >/dev/null || die "missing packages ($*) and no apt-get"
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  log "installing Debian packages: $*"
  export DEBIAN_FRONTEND=noninteractive
  if [ $APT_UPDATED = 0 ]; then
    $sudo apt-get update -qq >&2 || log "apt-get update failed (continuing)"
    APT_UPDATED=1
  fi
  $sudo apt-get install -y -qq --no-install-recommends "$@" >&2 || die "apt-get install $* failed"
}

# Install whatever is missing: kcat (Debian's, on the system librdkafka 2.0.2;
# used for PLAINTEXT only), openssl, curl, flock, a JDK >= 17 and Maven.
# lagscale and kafka-tool use the project's own librdkafka (scripts/librdkafka).
ensure_tools() {
  local pkgs=()
  command -v openssl >/dev/null || pkgs+=(openssl)
  command -v curl >/dev/null || pkgs+=(curl ca-certificates)
  command -v flock >/dev/null || pkgs+=(util-linux)
  command -v setsid >/dev/null || pkgs+=(util-linux)
  command -v kcat >/dev/null || command -v kafkacat >/dev/null || pkgs+=(kcat)
  if [ -z "$JAVA" ] || ! "$JAVA" -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])'; then
    pkgs+=(openjdk-17-jre-headless)
  fi
  command -v mvn >/dev/null || pkgs+=(maven)
  apt_install "${pkgs[@]}"
  JAVA=${LAGSCALE_E2E_JAVA:-$(command -v java)}
  KCAT=$(command -v kcat || command -v kafkacat)
  [ -n "$GO" ] && [ -x "$GO" ] || die "no Go toolchain (set LAGSCALE_E2E_GO); Go >= 1.26 is needed"
}

# --- processes ----------------------------------------------------------------
pidfile() { echo "$RUN/$1.pid"; }

# True if the pid file of component $1 names a live process that is ours
# (its command line mentions the instance dir), so a recycled pid is never killed.
pid_alive() {
  local f pid
  f=$(pidfile "$1")
  [ -f "$f" ] || return 1
  pid=$(cat "$f" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$I/" || return 1
  # a zombie is not alive
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]
}

# start_daemon NAME CMD... : start CMD in its own session, detached, stdout and
# stderr to $LOGS/NAME.log, and write its pid to $RUN/NAME.pid.
start_daemon() {
  local name=$1
  shift
  local logf="$LOGS/$name.log"
  [ -f "$logf" ] && mv -f "$logf" "$logf.prev"
  # The subshell closes every inherited fd above 2 (our lock on fd 9, and any
  # pipe of a caller such as a test runner, which would otherwise wait for the
  # servers to exit), then execs setsid, which execs the server without a
  # fork (a background subshell is no process group leader): $! is the
  # server's own pid.
  (
    for f in /proc/$BASHPID/fd/*; do
      f=${f##*/}
      [[ $f =~ ^[0-9]+$ ]] && ((f > 2)) && eval "exec $f>&-"
    done
    exec setsid "$@"
  ) </dev/null >>"$logf" 2>&1 &
  echo $! >"$(pidfile "$name")"
  log "$name: started (pid $!, log $logf)"
}

# stop_component NAME: SIGTERM, wait up to 30 s, then SIGKILL. Idempotent.
stop_component() {
  local name=$1 f pid i
  f=$(pidfile "$name")
  if pid_alive "$name"; then
    pid=$(cat "$f")
    log "$name: stopping (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
      pid_alive "$name" || break
      sleep 0.1
    done
    if pid_alive "$name"; then
      log "$name: still running after 30 s, SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do pid_alive "$name" || break; sleep 0.1; done
    fi
  fi
  rm -f "$f"
}

# True while the pid file of component $1 names a process that exists and is
# no zombie, whatever its command line. Right after start_daemon the process
# may still be the subshell that closes descriptors before it execs the
# server (slow on a busy machine): pid_alive, which wants the server's own
# command line, is false then, although nothing has died.
pid_exists() {
  local pid
  pid=$(cat "$(pidfile "$1")" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && [ -d "/proc/$pid" ] &&
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]
}

# wait_ready NAME TIMEOUT CHECK...: poll CHECK until it succeeds; fail with the
# log path if the process dies or TIMEOUT passes.
wait_ready() {
  local name=$1 timeout=$2 t0=$SECONDS
  shift 2
  while ! "$@" >/dev/null 2>&1; do
    if ! pid_alive "$name" && ! pid_exists "$name"; then
      tail -n 30 "$LOGS/$name.log" >&2 || true
      die "$name exited during startup; log: $LOGS/$name.log"
    fi
    if ((SECONDS - t0 >= timeout)); then
      tail -n 30 "$LOGS/$name.log" >&2 || true
      die "$name not ready after ${timeout} s; log: $LOGS/$name.log"
    fi
    sleep 0.5
  done
  log "$name: ready in $((SECONDS - t0)) s"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

require_ports_free() {
  local name=$1 p
  shift
  for p in "$@"; do
    port_free "$p" || die "$name: port 127.0.0.1:$p is already in use by another process (override it, see test/e2e/README.md)"
  done
}

# --- env file ---------------------------------------------------------------------
write_env_file() {
  local tmp="$ENV_FILE.tmp.$$" n
  {
    echo "# lagscale e2e environment; written by $ENV_CMD up"
    envline LAGSCALE_E2E_HOME "$H"
    envline LAGSCALE_E2E_INSTANCE "$INSTANCE"
    envline LAGSCALE_E2E_INSTANCE_DIR "$I"
    envline LAGSCALE_E2E_PORT_OFFSET "$PORT_OFFSET"
    envline LAGSCALE_E2E_KAFKA_ONLY "$KAFKA_ONLY"
    envline LAGSCALE_E2E_ENV "$ENV_CMD"
    envline LAGSCALE_E2E_LOGS "$LOGS"
    envline LAGSCALE_E2E_KAFKA_VERSION "$KAFKA_VERSION"
    envline LAGSCALE_E2E_KAFKA_BROKERS "$KAFKA_BROKERS"
    if [ "$KAFKA_BROKERS" != 1 ]; then
      # three nodes, PLAINTEXT only: no secured listeners, users or OIDC
      envline LAGSCALE_E2E_KAFKA "$(kafka_bootstrap)"
      for n in $(kafka_nodes); do
        envline "LAGSCALE_E2E_KAFKA_NODE_$n" "127.0.0.1:$(kafka_node_port "$n")"
        envline "LAGSCALE_E2E_KAFKA_PIDFILE_$n" "$(pidfile "kafka-$n")"
      done
    else
      # listeners
      envline LAGSCALE_E2E_KAFKA "127.0.0.1:$KAFKA_PORT"
      envline LAGSCALE_E2E_KAFKA_SASL_PLAINTEXT "127.0.0.1:$KAFKA_SASL_PLAINTEXT_PORT"
      envline LAGSCALE_E2E_KAFKA_SASL_SSL "127.0.0.1:$KAFKA_SASL_SSL_PORT"
      envline LAGSCALE_E2E_KAFKA_SSL "127.0.0.1:$KAFKA_SSL_PORT"
      envline LAGSCALE_E2E_KAFKA_SASL_MECHANISMS "$KAFKA_SASL_MECHANISMS"
      envline LAGSCALE_E2E_KAFKA_CA "$PKI/kafka-ca.crt"
      envline LAGSCALE_E2E_KAFKA_OTHER_CA "$PKI/other-ca.crt"
      envline LAGSCALE_E2E_KAFKA_CLIENT_CERT "$PKI/kafka-client.crt"
      envline LAGSCALE_E2E_KAFKA_CLIENT_KEY "$PKI/kafka-client.key"
      envline LAGSCALE_E2E_KAFKA_REAUTH_MS "$KAFKA_OAUTH_REAUTH_MS"
      # users
      envline LAGSCALE_E2E_PLAIN_USER "$PLAIN_USER"
      envline LAGSCALE_E2E_PLAIN_PASSWORD "$(cat "$PKI/plain-password")"
      envline LAGSCALE_E2E_SCRAM_MECHANISM SCRAM-SHA-512
      envline LAGSCALE_E2E_SCRAM_USER "$SCRAM_USER"
      envline LAGSCALE_E2E_SCRAM_PASSWORD "$(cat "$PKI/scram-password")"
      # OIDC (token endpoint for librdkafka's sasl.oauthbearer.method=oidc)
      envline LAGSCALE_E2E_OIDC "http://127.0.0.1:$OIDC_PORT"
      envline LAGSCALE_E2E_OIDC_ISSUER "$OIDC_ISSUER"
      envline LAGSCALE_E2E_OIDC_TOKEN_URL "http://127.0.0.1:$OIDC_PORT/token"
      envline LAGSCALE_E2E_OIDC_JWKS_URL "http://127.0.0.1:$OIDC_PORT/jwks"
      envline LAGSCALE_E2E_OIDC_STATS_URL "http://127.0.0.1:$OIDC_PORT/stats"
      envline LAGSCALE_E2E_OIDC_CLIENT_ID "$OIDC_CLIENT_ID"
      envline LAGSCALE_E2E_OIDC_CLIENT_SECRET "$(cat "$PKI/oidc-client-secret")"
      envline LAGSCALE_E2E_OIDC_AUDIENCE "$OIDC_AUDIENCE"
      envline LAGSCALE_E2E_OIDC_SCOPE "$OIDC_SCOPE"
      envline LAGSCALE_E2E_OIDC_TOKEN_LIFETIME "$OIDC_LIFETIME"
      envline LAGSCALE_E2E_OIDC_PIDFILE "$(pidfile oidc)"
      envline LAGSCALE_E2E_KAFKA_PIDFILE "$(pidfile kafka)"
    fi
    envline LAGSCALE_E2E_KAFKA_CLASSPATH "$KAFKA_CLASSPATH"
    envline LAGSCALE_E2E_JAVA "$JAVA"
    envline LAGSCALE_E2E_KCAT "$KCAT"
    if [ "$KAFKA_ONLY" != 1 ]; then
      envline LAGSCALE_E2E_KUBE_VERSION "$KUBE_VERSION"
      envline LAGSCALE_E2E_ETCD "http://127.0.0.1:$ETCD_PORT"
      envline LAGSCALE_E2E_APISERVER "https://127.0.0.1:$APISERVER_PORT"
      envline LAGSCALE_E2E_KUBE_CA "$PKI/kube-ca.crt"
      envline LAGSCALE_E2E_ADMIN_TOKEN "$(token_of admin)"
      envline LAGSCALE_E2E_LAGSCALE_TOKEN "$(token_of lagscale)"
      envline LAGSCALE_E2E_KUBECONFIG "$PKI/admin.kubeconfig"
      envline LAGSCALE_E2E_KUBECONFIG_LAGSCALE "$PKI/lagscale.kubeconfig"
      envline LAGSCALE_E2E_KUBECTL "$BIN/kubectl"
      envline LAGSCALE_E2E_HELM "$BIN/helm"
      envline LAGSCALE_E2E_PROMETHEUS "$BIN/prometheus"
      envline LAGSCALE_E2E_HAS_KCM "$WITH_KCM"
    fi
  } >"$tmp"
  mv -f "$tmp" "$ENV_FILE"
}

envline() { printf 'export %s=%q\n' "$1" "$2"; }
