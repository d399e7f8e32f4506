# shellcheck shell=bash
# Building/downloading into the cache (sourced by test/e2e/env).

# Versions come from the committed wrapper modules and the pom, never from here.
modver() { # modver GOMOD MODULE
  awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$1"
}
KUBE_VERSION=$(modver "$E2E_DIR/go/kube/go.mod" k8s.io/kubernetes)
ETCD_VERSION=$(modver "$E2E_DIR/go/etcd/go.mod" go.etcd.io/etcd/server/v3)
HELM_VERSION=$(modver "$E2E_DIR/go/helm/go.mod" helm.sh/helm/v3)
HELM_K8S_VERSION=$(modver "$E2E_DIR/go/helm/go.mod" k8s.io/client-go)
KAFKA_POM_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$E2E_DIR/kafka/pom.xml")
KAFKA_VERSION=${LAGSCALE_E2E_KAFKA_VERSION:-$KAFKA_POM_VERSION}
KAFKA_MAJOR=${KAFKA_VERSION%%.*}
KAFKA_LIBS="$H/kafka/libs-$KAFKA_VERSION"
KAFKA_CONF="$H/kafka/conf"
# conf/ first: it holds the quiet log4j(2).properties for the command line tools.
KAFKA_CLASSPATH="$KAFKA_CONF:$KAFKA_LIBS/*"

go_env() {
  export GOTOOLCHAIN=local CGO_ENABLED=0
  export GOMODCACHE=${LAGSCALE_E2E_GOMODCACHE:-$H/go/mod}
  export GOCACHE=${LAGSCALE_E2E_GOCACHE:-$H/go/cache}
  export GOFLAGS="-modcacherw -trimpath -mod=readonly"
  export GOPATH="$H/go/path"
}

stamp_of() { # stamp_of DIR LDFLAGS
  # (a module without requirements, like go/oidc, has no go.sum)
  { cat "$1/go.mod"; cat "$1/go.sum" 2>/dev/null; echo "$2"; "$GO" version; } | sha256sum | cut -c1-32
}

# go_build NAME DIR LDFLAGS BIN=PKG... : build each PKG of wrapper module DIR
# into $BIN/BIN unless $BIN/.NAME.stamp says they are up to date. Build tags
# come from GO_TAGS (e.g. `GO_TAGS=a,b go_build ...`); they are part of the stamp.
go_build() {
  local name=$1 dir=$2 ldflags=$3 tags=${GO_TAGS:-}
  shift 3
  local stamp out t0=$SECONDS b ok=1 pkgs=() bins=()
  for b in "$@"; do bins+=("${b%%=*}"); pkgs+=("${b#*=}"); done
  stamp=$(stamp_of "$dir" "$ldflags${tags:+ tags=$tags}")
  for b in "${bins[@]}"; do [ -x "$BIN/$b" ] || ok=0; done
  if [ $ok = 1 ] && [ "$(cat "$BIN/.$name.stamp" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  log "building ${bins[*]} with $("$GO" version | awk '{print $3}'); a cold build takes minutes"
  out="$BIN/.tmp-$name"
  rm -rf "$out" && mkdir -p "$out"
  # one `go build` for all the packages of a module: their common packages
  # compile once and the links overlap with compiles
  if [ ${#pkgs[@]} = 1 ]; then
    set -- -o "$out/${bins[0]}" "${pkgs[0]}"
  else
    for b in "${!pkgs[@]}"; do
      [ "${bins[$b]}" = "${pkgs[$b]##*/}" ] || die "go_build: binary ${bins[$b]} must be named after ${pkgs[$b]}"
    done
    set -- -o "$out/" "${pkgs[@]}"
  fi
  [ -n "$tags" ] && set -- -tags "$tags" "$@"
  (cd "$dir" && go_env && "$GO" build -p "${LAGSCALE_E2E_GO_PARALLEL:-2}" -ldflags "-s -w $ldflags" "$@") >&2 ||
    die "go build of ${pkgs[*]} failed (module $dir)"
  for b in "${bins[@]}"; do mv -f "$out/$b" "$BIN/$b"; done
  rm -rf "$out"
  echo "$stamp" >"$BIN/.$name.stamp"
  log "built ${bins[*]} in $((SECONDS - t0)) s"
}

# The OIDC token server: our own source, so its hash goes into the ldflags
# (and so into the stamp): an edit rebuilds it.
build_go_oidc() {
  local src
  src=$(cat "$E2E_DIR"/go/oidc/*.go | sha256sum | cut -c1-16)
  go_build oidc "$E2E_DIR/go/oidc" "-X main.sourceHash=$src" oidc=lagscale.test/e2e/oidc
}

# Prometheus, for the tests that evaluate deploy/monitoring's queries and
# alerts against lagscale's /metrics. remove_all_sd leaves out every
# service discovery but the static and file ones (the tests scrape fixed
# addresses), which more than halves the build; without the builtinassets
# tag the web UI is not embedded (the HTTP API works as ever). The version
# ldflags are those of Prometheus' own release builds (common/version).
build_go_prometheus() {
  local v=github.com/prometheus/common/version mv rest pv
  mv=$(modver "$E2E_DIR/go/prometheus/go.mod" github.com/prometheus/prometheus)
  # the module's v0.3MM.P is Prometheus 3.MM.P
  rest=${mv#v0.}
  pv=3.$((${rest%%.*} - 300)).${rest#*.}
  GO_TAGS=remove_all_sd go_build prometheus "$E2E_DIR/go/prometheus" \
    "-X $v.Version=$pv -X $v.Branch=HEAD -X $v.Revision=unknown -X $v.BuildUser=lagscale-e2e -X $v.BuildDate=19700101-00:00:00" \
    prometheus=github.com/prometheus/prometheus/cmd/prometheus
}

# Everything an instance needs: the Kafka jars of its version, the OIDC
# server, and (unless LAGSCALE_E2E_KAFKA_ONLY=1) the Kubernetes binaries.
build_needed() {
  build_kafka
  if [ "$KAFKA_ONLY" = 1 ]; then build_go_oidc; else build_go_all; fi
}

build_go_all() {
  build_go_oidc
  local v ld="" minor
  minor=${KUBE_VERSION#v1.}
  minor=${minor%%.*}
  # what hack/lib/version.sh sets for release builds
  for v in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ld+=" -X $v.gitVersion=$KUBE_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor"
    ld+=" -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
  done
  go_build kube "$E2E_DIR/go/kube" "$ld" \
    kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver \
    kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager \
    kubectl=k8s.io/kubernetes/cmd/kubectl
  go_build etcd "$E2E_DIR/go/etcd" "-X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" \
    etcd=go.etcd.io/etcd/server/v3
  minor=${HELM_K8S_VERSION#v0.}
  minor=${minor%%.*}
  go_build helm "$E2E_DIR/go/helm" "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
    -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" \
    helm=helm.sh/helm/v3/cmd/helm
  build_go_prometheus
}

# Kafka jars from Maven Central, via the pom in test/e2e/kafka.
build_kafka() {
  # kafka.major selects the pom's logging profile (kafka3: reload4j, kafka4: log4j2)
  local stamp t0=$SECONDS props=(-Dkafka.version="$KAFKA_VERSION" -Dkafka.major="$KAFKA_MAJOR")
  [[ $KAFKA_VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "bad Kafka version '$KAFKA_VERSION'"
  [ "$KAFKA_MAJOR" -ge 3 ] || die "Kafka $KAFKA_VERSION: 3.x (KRaft) or newer is needed"
  stamp=$({ cat "$E2E_DIR/kafka/pom.xml"; echo "${props[*]}"; } | sha256sum | cut -c1-32)
  if [ "$(cat "$KAFKA_LIBS/.stamp" 2>/dev/null)" != "$stamp" ]; then
    log "downloading Apache Kafka $KAFKA_VERSION jars from Maven Central"
    rm -rf "$KAFKA_LIBS"
    # (sed: Maven 3.8 prints colour resets even in batch mode)
    if ! mvn -q -B -Dstyle.color=never -f "$E2E_DIR/kafka/pom.xml" -Dmaven.repo.local="$H/m2" "${props[@]}" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" 2>&1 |
      sed -u 's/\x1b\[[0-9;]*m//g; /^[[:space:]]*$/d' >&2; then
      die "mvn dependency:copy-dependencies failed"
    fi
    # in case mvn left target/ next to the pom: keep the work tree clean
    rm -rf "$E2E_DIR/kafka/target"
    [ -n "$(ls "$KAFKA_LIBS"/kafka_2.13-*.jar 2>/dev/null)" ] || die "no kafka jar in $KAFKA_LIBS"
    echo "$stamp" >"$KAFKA_LIBS/.stamp"
    log "kafka jars ready in $((SECONDS - t0)) s"
  fi
  mkdir -p "$KAFKA_CONF"
  # Command line tools (ConsumerGroupCommand, ...) find these on the
  # classpath: warnings and errors to stderr, nothing else. Kafka 3.x reads
  # log4j.properties (reload4j), 4.x log4j2.properties.
  cat >"$KAFKA_CONF/log4j.properties" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
  cat >"$KAFKA_CONF/log4j2.properties" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = STDERR
EOF
}
