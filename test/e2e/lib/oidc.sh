# shellcheck shell=bash
# The OIDC token server (test/e2e/go/oidc) that Kafka's OAUTHBEARER listeners
# trust (sourced by test/e2e/env). It starts before Kafka: the broker's JWKS
# validator fetches its keys at startup.

OIDC_ISSUER="http://127.0.0.1:$OIDC_PORT"
OIDC_AUDIENCE=kafka
OIDC_SCOPE=kafka
# seconds; the refresh test (test_oidc.py) expects short tokens
OIDC_LIFETIME=${LAGSCALE_E2E_OIDC_TOKEN_LIFETIME:-60}

oidc_start() {
  require_ports_free oidc "$OIDC_PORT"
  start_daemon oidc "$BIN/oidc" -listen "127.0.0.1:$OIDC_PORT" -issuer "$OIDC_ISSUER" \
    -audience "$OIDC_AUDIENCE" -client-id "$OIDC_CLIENT_ID" \
    -client-secret-file "$PKI/oidc-client-secret" -key "$PKI/oidc.key" -lifetime "${OIDC_LIFETIME}s"
  wait_ready oidc "$OIDC_TIMEOUT" oidc_healthy
}

# Healthy: our process (pid file) and the port answers /healthz.
oidc_healthy() {
  pid_alive oidc &&
    [ "$(curl -fsS --max-time 5 "http://127.0.0.1:$OIDC_PORT/healthz" 2>/dev/null)" = ok ]
}
