#!/usr/bin/env bash
# Smoke check of the e2e environment: sources the env file written by
# `test/e2e/env up` and checks that each part works the way the tests use it.
# Exit 0 if every check passed. Usage:
#   test/e2e/smoke.sh              (uses $LAGSCALE_E2E_HOME/env; run `env up` first)
#   test/e2e/smoke.sh --up         (runs `test/e2e/env up` itself)
# With LAGSCALE_KAFKA_TOOL (the project's kafka-tool, on lagscale's
# librdkafka; meson sets it) every SASL mechanism and mTLS is checked too.
# LAGSCALE_E2E_INSTANCE etc. select another instance, as for `env`.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ "${1:-}" = --up ]; then
  envfile=$("$here/env" up | tail -n1) || { echo "FAIL: test/e2e/env up"; exit 1; }
else
  envfile=$("$here/env" env-path)
fi
[ -f "$envfile" ] || { echo "FAIL: no env file $envfile: run test/e2e/env up first"; exit 1; }
# shellcheck disable=SC1090
. "$envfile"

pass=0 fail=0
ok() { echo "ok   - $*"; pass=$((pass + 1)); }
bad() { echo "FAIL - $*"; fail=$((fail + 1)); }
check() { # check DESCRIPTION COMMAND...
  local d=$1 out
  shift
  if out=$("$@" 2>&1); then ok "$d"; else bad "$d"; printf '       %s\n' "${out//$'\n'/$'\n'       }" | tail -n 15; fi
}

id=$$-$RANDOM
ns=smoke-$id
k() { "$LAGSCALE_E2E_KUBECTL" --kubeconfig "$LAGSCALE_E2E_KUBECONFIG" "$@"; }
kl() { "$LAGSCALE_E2E_KUBECTL" --kubeconfig "$LAGSCALE_E2E_KUBECONFIG_LAGSCALE" "$@"; }
scale_replicas() {
  k get --raw "/apis/apps/v1/namespaces/$ns/deployments/web/scale" |
    sed -n 's/.*"spec":{"replicas":\([0-9]*\)}.*/\1/p'
}
export -f k kl scale_replicas
export ns
kube=1
[ "${LAGSCALE_E2E_KAFKA_ONLY:-0}" = 1 ] && kube=0
cleanup() { [ $kube = 0 ] || k delete namespace "$ns" --wait=false >/dev/null 2>&1 || true; }
trap cleanup EXIT

if [ $kube = 1 ]; then
echo "# Kubernetes $LAGSCALE_E2E_KUBE_VERSION at $LAGSCALE_E2E_APISERVER"
check "kubectl version: client and server are $LAGSCALE_E2E_KUBE_VERSION" \
  bash -c '[ "$(k version -o json | grep -c "\"gitVersion\": \"$LAGSCALE_E2E_KUBE_VERSION\"")" = 2 ]'
check "/readyz with the admin token" \
  bash -c '[ "$(curl -fsS --cacert "$LAGSCALE_E2E_KUBE_CA" -H "Authorization: Bearer $LAGSCALE_E2E_ADMIN_TOKEN" "$LAGSCALE_E2E_APISERVER/readyz")" = ok ]'
check "admin creates namespace $ns" k create namespace "$ns"
check "admin creates deployment web (2 replicas)" \
  k -n "$ns" create deployment web --image=registry.invalid/web:1 --replicas=2
check "admin reads the deployment" k -n "$ns" get deployment web
check "GET /apis/apps/v1/namespaces/$ns/deployments/web/scale has spec.replicas 2" \
  bash -c "[ \"\$(scale_replicas)\" = 2 ]"
check "PATCH the scale subresource to 3" \
  k -n "$ns" patch deployment web --subresource=scale --type=merge -p '{"spec":{"replicas":3}}'
check "the scale subresource reads 3" bash -c "[ \"\$(scale_replicas)\" = 3 ]"
check "user lagscale (token, no RBAC) gets 403 listing deployments" \
  bash -c '[ "$(curl -sS -o /dev/null -w "%{http_code}" --cacert "$LAGSCALE_E2E_KUBE_CA" -H "Authorization: Bearer $LAGSCALE_E2E_LAGSCALE_TOKEN" "$LAGSCALE_E2E_APISERVER/apis/apps/v1/namespaces/'"$ns"'/deployments")" = 403 ]'
check "kubectl as lagscale is Forbidden" \
  bash -c "kl -n $ns get deployments 2>&1 | grep -q Forbidden"
read -r crt key kcfg < <("$here/env" client-cert smoke-user smoke-group)
check "client certificate from 'env client-cert' authenticates as smoke-user" \
  bash -c "$LAGSCALE_E2E_KUBECTL --kubeconfig $kcfg auth whoami | grep -q smoke-user && [ -f $crt ] && [ -f $key ]"
if [ "${LAGSCALE_E2E_HAS_KCM:-0}" = 1 ]; then
  check "kube-controller-manager: deployment status.replicas becomes 3" \
    bash -c "for i in \$(seq 60); do [ \"\$(k -n $ns get deployment web -o jsonpath='{.status.replicas}')\" = 3 ] && exit 0; sleep 1; done; exit 1"
fi
fi # kube

echo "# OIDC token server at $LAGSCALE_E2E_OIDC"
oidc_token() { # oidc_token SECRET: the HTTP status of a client-credentials request
  curl -sS -o "$tmpdir/token" -w '%{http_code}' --max-time 10 -K - "$LAGSCALE_E2E_OIDC_TOKEN_URL" \
    -d grant_type=client_credentials -d scope=smoke <<<"user = \"$LAGSCALE_E2E_OIDC_CLIENT_ID:$1\""
}
tmpdir=$(mktemp -d)
export tmpdir
export -f oidc_token
trap 'cleanup; rm -rf "$tmpdir"' EXIT
check "GET /jwks lists an RS256 key" \
  bash -c 'curl -fsS --max-time 10 "$LAGSCALE_E2E_OIDC_JWKS_URL" | grep -q "\"alg\":\"RS256\""'
check "client credentials get a token (RS256 JWT, $LAGSCALE_E2E_OIDC_TOKEN_LIFETIME s)" \
  bash -c "[ \"\$(oidc_token \"\$LAGSCALE_E2E_OIDC_CLIENT_SECRET\")\" = 200 ] && grep -q '\"access_token\":\"ey' $tmpdir/token"
check "a wrong client secret gets 401" bash -c '[ "$(oidc_token wrong)" = 401 ]'
check "GET /stats counts the token" \
  bash -c 'curl -fsS --max-time 10 "$LAGSCALE_E2E_OIDC_STATS_URL" | grep -q "\"smoke\":[1-9]"'

echo "# Kafka $LAGSCALE_E2E_KAFKA_VERSION; kcat: $("$LAGSCALE_E2E_KCAT" -V 2>&1 | grep -o 'librdkafka [0-9.]*')"
produce_consume() { # produce_consume NAME BOOTSTRAP [kcat options...]
  local name=$1 b=$2 topic=smoke-$1-$id group=smoke-$1-$id got
  shift 2
  printf 'a\nb\nc\n' | timeout 30 "$LAGSCALE_E2E_KCAT" -P -b "$b" "$@" -t "$topic" || return 1
  got=$(timeout 60 "$LAGSCALE_E2E_KCAT" -C -b "$b" "$@" -G "$group" -X auto.offset.reset=earliest \
    -X enable.auto.commit=true -e -q -f '%s\n' "$topic" | tr -d '\n') || return 1
  [ "$got" = abc ] || { echo "consumed '$got', want 'abc'"; return 1; }
  echo "$topic $group" >"$tmpdir/$name"
}
check "kcat metadata over PLAINTEXT ($LAGSCALE_E2E_KAFKA)" \
  bash -c "timeout 20 $LAGSCALE_E2E_KCAT -L -b $LAGSCALE_E2E_KAFKA -m 10 | grep -q ' 1 brokers:'"
check "kcat produce + group consume + commit over PLAINTEXT" produce_consume plain "$LAGSCALE_E2E_KAFKA"
check "TLS handshake on SASL_SSL ($LAGSCALE_E2E_KAFKA_SASL_SSL), broker certificate verified" \
  bash -c 'openssl s_client -connect "$LAGSCALE_E2E_KAFKA_SASL_SSL" -CAfile "$LAGSCALE_E2E_KAFKA_CA" -verify_return_error -verify_ip 127.0.0.1 </dev/null 2>&1 | grep -q "Verify return code: 0 (ok)"'
check "TLS handshake on SSL ($LAGSCALE_E2E_KAFKA_SSL) with the client certificate" \
  bash -c 'openssl s_client -connect "$LAGSCALE_E2E_KAFKA_SSL" -CAfile "$LAGSCALE_E2E_KAFKA_CA" -cert "$LAGSCALE_E2E_KAFKA_CLIENT_CERT" -key "$LAGSCALE_E2E_KAFKA_CLIENT_KEY" -verify_return_error -verify_ip 127.0.0.1 </dev/null 2>&1 | grep -q "Verify return code: 0 (ok)"'
if [ -n "${LAGSCALE_KAFKA_TOOL:-}" ] && [ -x "$LAGSCALE_KAFKA_TOOL" ]; then
  # kcat's librdkafka (2.0.2) cannot SCRAM to Kafka 4.x and has no OIDC:
  # the project's kafka-tool (lagscale's librdkafka) produces over each.
  kt_produce() { # kt_produce BOOTSTRAP -X ...: one message to a topic of its own
    timeout 60 "$LAGSCALE_KAFKA_TOOL" produce -b "$1" -t "smoke-auth-$id-$RANDOM" -n 1 "${@:2}"
  }
  for proto in SASL_PLAINTEXT SASL_SSL; do
    b=LAGSCALE_E2E_KAFKA_$proto
    tls=()
    [ $proto = SASL_SSL ] && tls=(-X ssl.ca.location="$LAGSCALE_E2E_KAFKA_CA")
    for mech in PLAIN SCRAM-SHA-256 SCRAM-SHA-512; do
      if [ $mech = PLAIN ]; then u=$LAGSCALE_E2E_PLAIN_USER p=$LAGSCALE_E2E_PLAIN_PASSWORD
      else u=$LAGSCALE_E2E_SCRAM_USER p=$LAGSCALE_E2E_SCRAM_PASSWORD; fi
      check "kafka-tool produces over $proto/$mech (${!b})" kt_produce "${!b}" \
        -X security.protocol=$proto -X sasl.mechanism=$mech -X sasl.username="$u" -X sasl.password="$p" "${tls[@]}"
    done
    check "kafka-tool produces over $proto/OAUTHBEARER (OIDC) (${!b})" kt_produce "${!b}" \
      -X security.protocol=$proto -X sasl.mechanism=OAUTHBEARER -X sasl.oauthbearer.method=oidc \
      -X sasl.oauthbearer.client.id="$LAGSCALE_E2E_OIDC_CLIENT_ID" \
      -X sasl.oauthbearer.client.secret="$LAGSCALE_E2E_OIDC_CLIENT_SECRET" \
      -X sasl.oauthbearer.token.endpoint.url="$LAGSCALE_E2E_OIDC_TOKEN_URL" -X sasl.oauthbearer.scope=smoke "${tls[@]}"
  done
  check "kafka-tool produces over SSL with a client certificate (mTLS, $LAGSCALE_E2E_KAFKA_SSL)" \
    kt_produce "$LAGSCALE_E2E_KAFKA_SSL" -X security.protocol=SSL -X ssl.ca.location="$LAGSCALE_E2E_KAFKA_CA" \
    -X ssl.certificate.location="$LAGSCALE_E2E_KAFKA_CLIENT_CERT" -X ssl.key.location="$LAGSCALE_E2E_KAFKA_CLIENT_KEY"
else
  echo "skip - SASL and mTLS through librdkafka: set LAGSCALE_KAFKA_TOOL to the built kafka-tool"
fi
check "transactional produce (transactional.id) read back read_committed" bash -c '
  t=smoke-tx-'"$id"'
  printf "x\ny\n" | timeout 60 "$LAGSCALE_E2E_KCAT" -P -b "$LAGSCALE_E2E_KAFKA" -X transactional.id=smoke-'"$id"' -t $t &&
  [ "$(timeout 60 "$LAGSCALE_E2E_KCAT" -C -b "$LAGSCALE_E2E_KAFKA" -X isolation.level=read_committed -e -q -o beginning -f "%s" -t $t)" = xy ]'
describe_group() {
  local topic group
  read -r topic group <"$tmpdir/plain" || return 1
  timeout 90 "$LAGSCALE_E2E_JAVA" -cp "$LAGSCALE_E2E_KAFKA_CLASSPATH" \
    org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
    --bootstrap-server "$LAGSCALE_E2E_KAFKA" --describe --group "$group" >"$tmpdir/describe" 2>&1 || { cat "$tmpdir/describe"; return 1; }
  # committed offset 3 of 3, lag 0
  grep -Eq "^$group +$topic +0 +3 +3 +0 " "$tmpdir/describe" || { cat "$tmpdir/describe"; return 1; }
  # and quiet: no log4j/slf4j noise
  ! grep -Eqi 'slf4j|log4j' "$tmpdir/describe" || { cat "$tmpdir/describe"; return 1; }
}
check "ConsumerGroupCommand --describe shows the committed offsets (quietly)" describe_group

if [ $kube = 1 ]; then
  echo "# helm"
  check "helm version ($("$LAGSCALE_E2E_HELM" version --short 2>&1))" \
    bash -c '"$LAGSCALE_E2E_HELM" version --short | grep -q "^v3\."'
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
