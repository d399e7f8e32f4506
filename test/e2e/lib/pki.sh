# shellcheck shell=bash
# Certificates, keys and tokens (sourced by test/e2e/env). Made once per cache
# and kept across down/up, so paths and secrets stay stable.
#
#   kube-ca.{crt,key}       CA of the kube-apiserver serving certificate
#   apiserver.{crt,key}     serving cert, SAN 127.0.0.1, localhost, kubernetes...
#   client-ca.{crt,key}     --client-ca-file: signs client certificates
#   sa.{key,pub}            service-account token signing key pair
#   tokens.csv              --token-auth-file: admin (system:masters), lagscale (no groups)
#   admin.kubeconfig, lagscale.kubeconfig   token kubeconfigs
#   kafka-ca.{crt,key}      CA of the Kafka broker certificate (clients: ssl.ca.location)
#   kafka.{crt,key,p12}     broker certificate, SAN 127.0.0.1 and localhost
#   kafka-client.{crt,key}  client certificate (CN=lagscale-client) signed by
#                           kafka-ca, for the mTLS listener (ssl.client.auth=required)
#   other-ca.{crt,key}      a CA that signed nothing the broker uses (TLS failure tests)
#   scram-password          password of the SCRAM user "lagscale" (SHA-256 and SHA-512)
#   plain-password          password of the SASL/PLAIN user "lagscale-plain"
#   oidc.key                RSA key the OIDC server signs tokens with (JWKS)
#   oidc-client-secret      secret of the OIDC client "lagscale"
#   clients/NAME.{crt,key,kubeconfig}   from `env client-cert NAME`
#
# Each file is made when missing, so a cache from an older script gets the
# new ones without losing the old.

SCRAM_USER=lagscale
PLAIN_USER=lagscale-plain
OIDC_CLIENT_ID=lagscale
KAFKA_KEYSTORE_PASSWORD=lagscale-e2e

rand_hex() { openssl rand -hex "${1:-16}"; }

new_ca() { # new_ca NAME CN
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
    -keyout "$PKI/$1.key" -out "$PKI/$1.crt" -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

# sign CA OUTBASE SUBJECT EXTFILE-CONTENT
sign() {
  local ca=$1 out=$2 subj=$3 ext=$4
  openssl req -new -newkey rsa:2048 -nodes -keyout "$out.key" -out "$out.csr" -subj "$subj" 2>/dev/null
  printf '%s\n' "$ext" >"$out.ext"
  openssl x509 -req -sha256 -days 3650 -in "$out.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" \
    -set_serial "0x$(rand_hex 12)" -extfile "$out.ext" -out "$out.crt" 2>/dev/null
  rm -f "$out.csr" "$out.ext"
}

# kubeconfig FILE USER (token|cert) ARG [KEY]
write_kubeconfig() {
  local file=$1 user=$2 kind=$3 a=$4 b=${5:-}
  {
    cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: lagscale-e2e
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $PKI/kube-ca.crt
contexts:
- name: $user@lagscale-e2e
  context:
    cluster: lagscale-e2e
    user: $user
current-context: $user@lagscale-e2e
users:
- name: $user
  user:
EOF
    if [ "$kind" = token ]; then
      echo "    token: $a"
    else
      echo "    client-certificate: $a"
      echo "    client-key: $b"
    fi
  } >"$file.tmp"
  chmod 600 "$file.tmp"
  mv -f "$file.tmp" "$file"
}

token_of() { awk -F, -v u="$1" '$2 == u { print $1 }' "$PKI/tokens.csv"; }

ensure_pki() {
  local srv_ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth"
  (
    umask 077
    if [ ! -f "$PKI/.done" ]; then
      log "generating certificates, keys and tokens in $PKI"
      new_ca kube-ca lagscale-e2e-kube-ca
      sign kube-ca "$PKI/apiserver" "/CN=kube-apiserver" "$srv_ext
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
      new_ca client-ca lagscale-e2e-client-ca
      openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
      openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
      printf '%s,admin,admin-uid,"system:masters"\n%s,lagscale,lagscale-uid\n' \
        "$(rand_hex 24)" "$(rand_hex 24)" >"$PKI/tokens.csv"
      new_ca kafka-ca lagscale-e2e-kafka-ca
      sign kafka-ca "$PKI/kafka" "/CN=localhost" "$srv_ext
subjectAltName=IP:127.0.0.1,DNS:localhost"
      openssl pkcs12 -export -in "$PKI/kafka.crt" -inkey "$PKI/kafka.key" -certfile "$PKI/kafka-ca.crt" \
        -name kafka -out "$PKI/kafka.p12" -passout "pass:$KAFKA_KEYSTORE_PASSWORD"
      rand_hex 16 >"$PKI/scram-password"
      mkdir -p "$PKI/clients"
      touch "$PKI/.done"
    fi
    # added after the first layout: made when missing
    if [ ! -f "$PKI/kafka-client.crt" ]; then
      sign kafka-ca "$PKI/kafka-client" "/CN=lagscale-client" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
    fi
    [ -f "$PKI/other-ca.crt" ] || new_ca other-ca lagscale-e2e-other-ca
    [ -s "$PKI/plain-password" ] || rand_hex 16 >"$PKI/plain-password"
    [ -s "$PKI/oidc-client-secret" ] || rand_hex 20 >"$PKI/oidc-client-secret"
    [ -s "$PKI/oidc.key" ] || openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/oidc.key" 2>/dev/null
  ) || die "generating certificates in $PKI failed"
  [ -s "$PKI/kafka-client.crt" ] && [ -s "$PKI/oidc.key" ] || die "generating certificates in $PKI failed"
  # CA certificates are public: let any local user (a test run as another
  # user) read them.
  chmod 644 "$PKI"/*-ca.crt
  # Cheap, and they carry the (overridable) apiserver port: always rewrite.
  write_kubeconfig "$PKI/admin.kubeconfig" admin token "$(token_of admin)"
  write_kubeconfig "$PKI/lagscale.kubeconfig" lagscale token "$(token_of lagscale)"
}

# client_cert NAME [GROUP...]: print "CERT KEY KUBECONFIG" for user NAME.
client_cert() {
  local name=$1 subj g
  shift
  [[ $name =~ ^[A-Za-z0-9:._@-]+$ ]] || die "client-cert: bad user name '$name'"
  subj="/CN=$name"
  for g in "$@"; do subj+="/O=$g"; done
  local base
  base="$PKI/clients/${name//:/_}-$(rand_hex 4)"
  mkdir -p "$PKI/clients"
  (umask 077 && sign client-ca "$base" "$subj" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth")
  [ -s "$base.crt" ] || die "client-cert: signing failed"
  write_kubeconfig "$base.kubeconfig" "$name" cert "$base.crt" "$base.key"
  echo "$base.crt $base.key $base.kubeconfig"
}
