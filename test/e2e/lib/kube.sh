# shellcheck shell=bash
# etcd, kube-apiserver and kube-controller-manager (sourced by test/e2e/env).

etcd_start() {
  require_ports_free etcd "$ETCD_PORT" "$ETCD_PEER_PORT"
  mkdir -p "$RUN/etcd"
  start_daemon etcd "$BIN/etcd" --name lagscale-e2e --data-dir "$RUN/etcd/data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "lagscale-e2e=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --quota-backend-bytes 2147483648 --log-level warn
  wait_ready etcd "$ETCD_TIMEOUT" etcd_healthy
}

etcd_healthy() {
  pid_alive etcd &&
    curl -fsS --max-time 5 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'
}

apiserver_start() {
  require_ports_free kube-apiserver "$APISERVER_PORT"
  start_daemon kube-apiserver "$BIN/kube-apiserver" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/client-ca.crt" \
    --token-auth-file="$PKI/tokens.csv" \
    --authorization-mode=Node,RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" \
    --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 \
    --allow-privileged=false --profiling=false \
    --endpoint-reconciler-type=none \
    --cert-dir="$RUN/kube-apiserver"
  wait_ready kube-apiserver "$APISERVER_TIMEOUT" apiserver_healthy
}

apiserver_healthy() {
  pid_alive kube-apiserver &&
    [ "$(curl -sS --max-time 5 --cacert "$PKI/kube-ca.crt" -H "Authorization: Bearer $(token_of admin)" \
      "https://127.0.0.1:$APISERVER_PORT/readyz" 2>/dev/null)" = ok ]
}

kcm_start() {
  require_ports_free kube-controller-manager "$KCM_PORT"
  start_daemon kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig="$PKI/admin.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
    --cert-dir="$RUN/kube-controller-manager" \
    --leader-elect=false \
    --controllers='*' \
    --use-service-account-credentials=false \
    --service-account-private-key-file="$PKI/sa.key" \
    --root-ca-file="$PKI/kube-ca.crt" \
    --profiling=false
  wait_ready kube-controller-manager "$KCM_TIMEOUT" kcm_healthy
}

kcm_healthy() {
  pid_alive kube-controller-manager &&
    [ "$(curl -ksS --max-time 5 "https://127.0.0.1:$KCM_PORT/healthz" 2>/dev/null)" = ok ]
}
