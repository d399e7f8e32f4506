"""charts/lagscale: `helm lint --strict`, and values.schema.json refusing a
misspelled value (lint, template and install); `helm template` with the
default values and with examples/full-values.yaml, each applied with
--dry-run=server to the real kube-apiserver (its namespaces created first;
the Prometheus operator's kinds against stand-in CRDs); the rendered config
passes `lagscale check-config`; the pod runs `run --output json`, with a
startup probe, a PodDisruptionBudget and the KEDA-style extras of
full-values; the chart's RBAC is deploy/'s rule set; the checksum/config
annotation is the sha256 of the rendered config and changes with it only;
watchNamespaces gives Roles in those namespaces and nothing cluster-wide,
applied for real, and lagscale, running with the chart's config as the
chart's ServiceAccount, scales in both namespaces, holds its Lease and
meets no 403, while the ServiceAccount can do nothing elsewhere (the
config's kubernetes.watchNamespaces follows watchNamespaces); crds/ holds
deploy/'s LagScaler CRD; lagScalers.enabled=false drops the LagScaler rules
and sets kubernetes.lagScalers: false; the toggles work; NOTES.txt says how to see decisions, also for a scaler with
no target."""
import base64
import hashlib
import json
import os
import re
import shutil
import tempfile
import urllib.parse

import e2e
import hardening
import test_kube_lib as kl
from e2e import LAGSCALE, check, done, run, uid, write_config

ROOT = os.environ.get("LAGSCALE_SOURCE_ROOT",
                      os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CHART = os.path.join(ROOT, "charts", "lagscale")
FULL = os.path.join(CHART, "examples", "full-values.yaml")
KUBECTL = os.environ["LAGSCALE_E2E_KUBECTL"]
HELM = os.environ["LAGSCALE_E2E_HELM"]
ADMIN = os.environ["LAGSCALE_E2E_KUBECONFIG"]


def k(*args, input=None, check_rc=False):
    return run([KUBECTL, "--kubeconfig", ADMIN] + list(args), input=input, check_rc=check_rc)


def helm(*args, check_rc=False):
    # HOME-independent caches, so the test never writes outside /tmp.
    env = dict(os.environ, HELM_CACHE_HOME="/tmp/lagscale-e2e-helm/cache",
               HELM_CONFIG_HOME="/tmp/lagscale-e2e-helm/config",
               HELM_DATA_HOME="/tmp/lagscale-e2e-helm/data")
    return run([HELM] + list(args), check_rc=check_rc, env=env)


def values_file(values):
    """A values file (JSON is YAML) for `helm -f`."""
    fd, path = tempfile.mkstemp(prefix="lagscale-e2e-values-", suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        json.dump(values, f)
    return path


def objects(yaml_text):
    out = k("create", "--dry-run=client", "-o", "json", "-f", "-", input=yaml_text,
            check_rc=True).stdout.strip()
    dec, i, objs = json.JSONDecoder(), 0, []
    while i < len(out):
        o, i = dec.raw_decode(out, i)
        while i < len(out) and out[i].isspace():
            i += 1
        objs.append(o)
    return objs


def ensure_namespace(ns):
    if k("get", "namespace", ns).returncode != 0:
        k("create", "namespace", ns, check_rc=True)


def ensure_monitoring_crds():
    """Schema-less stand-ins for the Prometheus operator's CRDs (left in place)."""
    for plural, kind in (("prometheusrules", "PrometheusRule"),
                         ("servicemonitors", "ServiceMonitor")):
        name = "%s.monitoring.coreos.com" % plural
        if k("get", "crd", name).returncode == 0:
            continue
        crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
               "metadata": {"name": name},
               "spec": {"group": "monitoring.coreos.com", "scope": "Namespaced",
                        "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
                        "versions": [{"name": "v1", "served": True, "storage": True,
                                      "schema": {"openAPIV3Schema": {
                                          "type": "object",
                                          "x-kubernetes-preserve-unknown-fields": True}}}]}}
        k("create", "-f", "-", input=json.dumps(crd), check_rc=True)
        k("wait", "--for", "condition=established", "crd/" + name, "--timeout=60s",
          check_rc=True)


for name, extra in (("default values", []), ("full-values.yaml", ["-f", FULL])):
    p = helm("lint", CHART, "--strict", *extra)
    check(p.returncode == 0, "helm lint --strict (%s)" % name, p.stdout + p.stderr)

# values.schema.json: a misspelled value is an error naming it, at every
# level a user sets, not a value silently ignored.
typo_values = values_file({"podDisruptionBudget": {"maxUnavailabel": 1}})
for what, args, key in (
        ("replicaCont=3", ["--set", "replicaCont=3"], "replicaCont"),
        ("image.tagg", ["--set", "image.tagg=1.0"], "tagg"),
        ("serviceMonitor.enabeld", ["--set", "serviceMonitor.enabeld=true"], "enabeld"),
        ("extraVolumeMount", ["--set", "extraVolumeMount[0].name=x"], "extraVolumeMount"),
        ("config.scaler", ["--set", "config.scaler[0].name=x"], "scaler"),
        ("podDisruptionBudget.maxUnavailabel (a values file)", ["-f", typo_values],
         "maxUnavailabel")):
    p = helm("lint", CHART, "--strict", *args)
    check(p.returncode != 0 and key in p.stdout + p.stderr,
          "helm lint --strict refuses %s, naming it" % what, p.stdout + p.stderr)
    p = helm("template", "x", CHART, *args)
    check(p.returncode != 0 and "additional properties '%s' not allowed" % key in p.stderr,
          "helm template refuses %s, naming it" % what, p.stderr)
os.unlink(typo_values)
p = helm("template", "x", CHART, "--set", "config.server.address=127.0.0.1:0")
check(p.returncode != 0 and "config.server.address" in p.stderr,
      "helm template refuses a server.address without a usable port", p.stderr)
for what, args in (("replicaCount=two", ["--set-string", "replicaCount=two"]),
                   ("serviceAccount.tokenExpirationSeconds=599",
                    ["--set", "serviceAccount.tokenExpirationSeconds=599"]),
                   ("output=yaml", ["--set", "output=yaml"]),
                   ("podDisruptionBudget.maxUnavailable=half",
                    ["--set-string", "podDisruptionBudget.maxUnavailable=half"])):
    p = helm("template", "x", CHART, *args)
    check(p.returncode != 0 and "schema" in p.stderr, "helm template refuses %s" % what,
          p.stderr)

ensure_namespace("lagscale")  # full-values puts the Lease there
for n in ("shop", "analytics"):  # full-values' watchNamespaces: their Roles
    ensure_namespace(n)
ensure_monitoring_crds()
namespaces = []
try:
    for name, extra in (("default values", []), ("full-values.yaml", ["-f", FULL])):
        ns = uid("lagscale-helm")
        namespaces.append(ns)
        k("create", "namespace", ns, check_rc=True)
        p = helm("template", "lagscale", CHART, "-n", ns, *extra)
        if not check(p.returncode == 0, "helm template (%s)" % name, p.stderr):
            continue
        rendered = p.stdout
        # Every object names its namespace (the Lease's Role may be elsewhere).
        d = k("apply", "-f", "-", "--dry-run=server", input=rendered)
        check(d.returncode == 0, "helm template (%s) | kubectl apply --dry-run=server" % name,
              d.stderr)
        print(d.stdout.strip())
        check("would violate PodSecurity" not in d.stderr, "no PodSecurity warning (%s)" % name,
              d.stderr)
        # Keyed by kind and namespace/name: the Roles of watchNamespaces share a name.
        objs = {(o["kind"], "%s/%s" % (o["metadata"].get("namespace", ""),
                                       o["metadata"]["name"])): o for o in objects(rendered)}
        kinds = sorted({kd for kd, _ in objs})
        want = ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment",
                "PodDisruptionBudget", "Role", "RoleBinding", "Service", "ServiceAccount"]
        if extra:
            # watchNamespaces: Roles instead of the ClusterRole.
            want = sorted(set(want) - {"ClusterRole", "ClusterRoleBinding"} |
                          {"PrometheusRule", "ServiceMonitor"})
        check(kinds == want, "kinds rendered (%s)" % name, str(kinds))

        dep = [o for (kd, _), o in objs.items() if kd == "Deployment"][0]
        spec = dep["spec"]["template"]["spec"]
        c = spec["containers"][0]
        check(spec["securityContext"].get("runAsUser") == 65532 and
              spec["securityContext"].get("runAsNonRoot") is True and
              c["securityContext"].get("readOnlyRootFilesystem") is True and
              c["securityContext"].get("capabilities", {}).get("drop") == ["ALL"],
              "secure defaults in the pod (%s)" % name)
        sas = [o for (kd, _), o in objs.items() if kd == "ServiceAccount"]
        hardening.check_pod(dep, sas[0] if sas else None, "chart, " + name)
        hardening.admitted_restricted(k, dep, "chart, " + name)
        args = c["args"]
        check(args[:3] == ["run", "--config", "/etc/lagscale/config.yaml"] and
              "--output" in args and args[args.index("--output") + 1:][:1] == ["json"],
              "the pod runs `run --output json`: decisions as JSON Lines (%s)" % name,
              str(args))
        check(c.get("startupProbe", {}).get("httpGet", {}).get("path") == "/healthz" and
              c["livenessProbe"]["httpGet"]["path"] == "/healthz" and
              c["readinessProbe"]["httpGet"]["path"] == "/readyz",
              "startup, liveness and readiness probes (%s)" % name)
        pdb = [o for (kd, _), o in objs.items() if kd == "PodDisruptionBudget"][0]
        check(pdb["spec"].get("maxUnavailable") == 1 and
              pdb["spec"]["selector"]["matchLabels"] ==
              dep["spec"]["selector"]["matchLabels"],
              "a PodDisruptionBudget of maxUnavailable 1 over the pods (%s)" % name)
        cm = [o for (kd, _), o in objs.items() if kd == "ConfigMap"][0]
        ann = dep["spec"]["template"]["metadata"].get("annotations", {})
        check(ann.get("checksum/config") ==
              hashlib.sha256(cm["data"]["config.yaml"].rstrip("\n").encode()).hexdigest(),
              "checksum/config is the sha256 of the rendered config (%s)" % name,
              str(ann))
        text = cm["data"]["config.yaml"]
        if extra:
            # In the pod the CA comes from the kafka-ca Secret; here, the e2e CA.
            text = text.replace("/etc/kafka-ca/ca.crt", os.environ["LAGSCALE_E2E_KAFKA_CA"])
        path = write_config(text)
        env = dict(os.environ, KAFKA_PASSWORD="x", ANALYTICS_KAFKA_USERNAME="u",
                   ANALYTICS_KAFKA_PASSWORD="y")
        p = run([LAGSCALE, "check-config", path], check_rc=False, env=env)
        check(p.returncode == 0, "rendered config passes check-config (%s)" % name,
              p.stdout + p.stderr + cm["data"]["config.yaml"])
        os.unlink(path)
        if not extra:
            check("namespace: %s" % ns in cm["data"]["config.yaml"],
                  "the Lease namespace defaults to the release namespace")
            check(dep["spec"]["replicas"] == 2 and
                  c["resources"]["requests"] == {"cpu": "10m", "memory": "16Mi"},
                  "defaults: 2 replicas, 10m/16Mi")
            cr = [o for (kd, _), o in objs.items() if kd == "ClusterRole"][0]
            role = [o for (kd, _), o in objs.items() if kd == "Role"][0]
            deploy_rbac = {o["kind"]: o["rules"] for o in
                           objects(open(os.path.join(ROOT, "deploy", "rbac.yaml")).read())
                           if "rules" in o}
            check(cr["rules"] == deploy_rbac["ClusterRole"] and
                  role["rules"] == deploy_rbac["Role"], "the chart's RBAC is deploy/'s")
        else:
            envs = {e["name"]: e for e in c["env"]}
            ref = envs.get("KAFKA_PASSWORD", {}).get("valueFrom", {}).get("secretKeyRef", {})
            check(ref.get("name") == "kafka-credentials" and ref.get("key") == "password",
                  "the Kafka password comes from an existing Secret")
            check("${env:KAFKA_PASSWORD}" in cm["data"]["config.yaml"] and
                  "hunter" not in rendered, "the config refers to it as ${env:KAFKA_PASSWORD}")
            check(spec.get("nodeSelector") and spec.get("tolerations") and spec.get("affinity"),
                  "nodeSelector, tolerations, affinity")
            check(spec.get("topologySpreadConstraints", [{}])[0].get("topologyKey") ==
                  "topology.kubernetes.io/zone", "topologySpreadConstraints")
            check(c.get("envFrom") == [{"prefix": "ANALYTICS_KAFKA_",
                                        "secretRef": {"name": "analytics-kafka",
                                                      "optional": True}}],
                  "envFrom a Secret", str(c.get("envFrom")))
            vols = {v["name"]: v for v in spec["volumes"]}
            mounts = {m["name"]: m for m in c["volumeMounts"]}
            check(vols.get("kafka-ca", {}).get("secret", {}).get("secretName") == "kafka-ca" and
                  mounts.get("kafka-ca", {}).get("mountPath") == "/etc/kafka-ca" and
                  "config" in vols and "config" in mounts,
                  "extraVolumes/extraVolumeMounts: the Kafka CA from a Secret, beside the "
                  "config", str(spec["volumes"]))
            check("ssl.ca.location: /etc/kafka-ca/ca.crt" in cm["data"]["config.yaml"],
                  "the config reads the CA where it is mounted")
            check(ann.get("example.com/team") == "platform" and
                  dep["spec"]["template"]["metadata"]["labels"].get("team") == "platform",
                  "podAnnotations and podLabels")
            check(not any(kd.startswith("Cluster") for kd, _ in objs),
                  "watchNamespaces: nothing cluster-wide")
            roles = sorted((o["metadata"]["namespace"], o["metadata"]["name"])
                           for (kd, _), o in objs.items() if kd == "Role")
            check(roles == [("analytics", "lagscale"), ("lagscale", "lagscale-leader-election"),
                            ("shop", "lagscale")],
                  "a Role in each of watchNamespaces, and the Lease's", str(roles))
            check(c["image"] == "registry.example.com/platform/lagscale:0.1.0", "image",
                  c["image"])
            sm = [o for (kd, _), o in objs.items() if kd == "ServiceMonitor"][0]
            check(sm["spec"]["endpoints"][0]["port"] == "metrics", "ServiceMonitor on metrics")
            pr = [o for (kd, _), o in objs.items() if kd == "PrometheusRule"][0]
            alerts = [r["alert"] for g in pr["spec"]["groups"] for r in g["rules"]]
            check({"KafkaConsumerLagRising", "KafkaMessageAgeRising", "LagscaleScalerErrors",
                   "LagscaleFallbackActive", "LagscaleDown",
                   "LagscaleOrdersAtMaxReplicas"} <= set(alerts), "PrometheusRule alerts",
                  str(alerts))
            exprs = " ".join(r["expr"] for g in pr["spec"]["groups"] for r in g["rules"])
            check("> 50000" in exprs and "> 120" in exprs, "alert thresholds from values")
            check("{{ $labels.scaler }}" in json.dumps(pr), "alert templates survive Helm")
finally:
    for ns in namespaces:
        k("delete", "namespace", ns, "--wait=false")

def pod_checksum(*args):
    p = helm("template", "x", CHART, "-n", "lagscale", "--show-only",
             "templates/deployment.yaml", *args)
    if p.returncode != 0:
        return "helm template failed: " + p.stderr
    dep = objects(p.stdout)[0]
    return dep["spec"]["template"]["metadata"]["annotations"].get("checksum/config")


# A config change rolls the pods (a new pod template); anything else does not
# change the checksum.
base = pod_checksum()
check(base and re.fullmatch(r"[0-9a-f]{64}", base), "checksum/config is a sha256", str(base))
check(pod_checksum("--set", "config.log.level=debug") not in (base, None),
      "checksum/config changes when the config changes (log.level)")
check(pod_checksum("--set", "config.scalers[0].policy.maxReplicas=12") not in (base, None),
      "... and when a scaler changes")
check(pod_checksum("--set", "replicaCount=3", "--set", "podLabels.team=x") == base,
      "... and not when only other values change")

# watchNamespaces: Roles in those namespaces, nothing cluster-wide; applied
# for real, and lagscale run with the chart's own config as the chart's
# ServiceAccount does its whole job there and can do nothing elsewhere.
rel, wa, wb, other = (uid("lagscale-rel"), uid("helm-wa"), uid("helm-wb"),
                      uid("helm-other"))
sa = "system:serviceaccount:%s:lagscale" % rel
topic, group = uid("helm-ns"), uid("helm-ns-g")
kc_path = tempfile.mktemp(prefix="lagscale-e2e-helm-", suffix=".kubeconfig")
sa_dir = None
fast = {"lagThreshold": 10, "maxReplicas": 10, "pollingInterval": "1s",
        "behavior": {"scaleUp": {"stabilizationWindow": "0s",
                                 "policies": [{"type": "Pods", "value": 10, "period": "1s"}]}}}
vals = values_file({
    "watchNamespaces": [wa, wb],
    "config": {
        "kafka": {"clusters": [{"name": "main", "bootstrapServers": e2e.KAFKA}]},
        # In-cluster credentials, as in the pod: the files of the chart's
        # projected token volume (below).
        "leaderElection": {"enabled": True, "leaseDuration": "4s", "renewDeadline": "3s",
                           "retryPeriod": "1s"},
        "scalers": [{"name": "a", "target": {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "namespace": wa, "name": "web"},
                     "kafka": {"cluster": "main", "group": group, "topics": [topic]},
                     "policy": fast},
                    {"name": "b", "target": {"apiVersion": "apps/v1", "kind": "StatefulSet",
                                             "namespace": wb, "name": "db"},
                     "kafka": {"cluster": "main", "group": group, "topics": [topic]},
                     "policy": fast}]}})
try:
    p = helm("template", "lagscale", CHART, "-n", rel, "-f", vals)
    check(p.returncode == 0, "helm template with watchNamespaces", p.stderr)
    objs = objects(p.stdout) if p.returncode == 0 else []
    rbac = sorted((o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])
                  for o in objs if o["apiVersion"].startswith("rbac."))
    check(rbac == sorted([("Role", wa, "lagscale"), ("RoleBinding", wa, "lagscale"),
                          ("Role", wb, "lagscale"), ("RoleBinding", wb, "lagscale"),
                          ("Role", rel, "lagscale-leader-election"),
                          ("RoleBinding", rel, "lagscale-leader-election")]),
          "watchNamespaces: a Role and RoleBinding per namespace (and the Lease's), no "
          "ClusterRole", str(rbac))
    deploy_rules = [o["rules"] for o in
                    objects(open(os.path.join(ROOT, "deploy", "rbac.yaml")).read())
                    if o["kind"] == "ClusterRole"][0]
    check(all(o["rules"] == deploy_rules for o in objs
              if o["kind"] == "Role" and o["metadata"]["name"] == "lagscale"),
          "each namespace's Role has deploy/'s workload rules")
    cm = [o for o in objs if o["kind"] == "ConfigMap"][0]
    check("kubernetes:\n  watchNamespaces:\n  - %s\n  - %s\n" % (wa, wb) in
          cm["data"]["config.yaml"],
          "the config's kubernetes.watchNamespaces is watchNamespaces (LagScalers are "
          "watched there only)", cm["data"]["config.yaml"])

    for n in (rel, wa, wb, other):
        k("create", "namespace", n, check_rc=True)
    kl.create_deployment(wa, "web", 1)
    kl.create_statefulset(wb, "db", 1)
    kl.create_deployment(other, "web", 1)
    # Server-side dry run first (what `helm install` would be refused for),
    # then for real.
    d = k("apply", "-f", "-", "--dry-run=server", input=p.stdout)
    check(d.returncode == 0, "watchNamespaces: the rendered objects pass a server dry run",
          d.stderr)
    d = k("apply", "-f", "-", input=p.stdout)
    check(d.returncode == 0, "watchNamespaces: the rendered objects applied for real", d.stderr)

    def can(verb, resource, namespace, sub=None):
        args = ["auth", "can-i", verb, resource, "--as", sa]
        args += ["-A"] if namespace is None else ["-n", namespace]
        if sub:
            args += ["--subresource", sub]
        return k(*args).stdout.strip() == "yes"

    for n in (wa, wb):
        for verb, res, sub in (("get", "deployments.apps", None),
                               ("list", "deployments.apps", None),
                               ("watch", "deployments.apps", None),
                               ("list", "statefulsets.apps", None),
                               ("watch", "statefulsets.apps", None),
                               ("get", "deployments.apps", "scale"),
                               ("patch", "deployments.apps", "scale"),
                               ("update", "statefulsets.apps", "scale"),
                               ("create", "events.events.k8s.io", None),
                               ("patch", "events.events.k8s.io", None),
                               ("list", "lagscalers.lagscale.io", None),
                               ("watch", "lagscalers.lagscale.io", None),
                               ("patch", "lagscalers.lagscale.io", "status")):
            check(can(verb, res, n, sub), "watched namespace: can %s %s%s" % (
                verb, res, "/" + sub if sub else ""))
    for verb in ("get", "create", "update"):
        check(can(verb, "leases.coordination.k8s.io", rel), "can %s its Lease" % verb)
    for verb, res, n, sub in (("list", "deployments.apps", other, None),
                              ("patch", "deployments.apps", other, "scale"),
                              ("create", "events.events.k8s.io", other, None),
                              ("list", "deployments.apps", None, None),
                              ("watch", "deployments.apps", None, None),
                              ("list", "lagscalers.lagscale.io", None, None),
                              ("list", "lagscalers.lagscale.io", other, None),
                              ("patch", "lagscalers.lagscale.io", wa, None),
                              ("delete", "deployments.apps", wa, None),
                              ("patch", "deployments.apps", wa, None),
                              ("get", "secrets", wa, None),
                              ("get", "leases.coordination.k8s.io", wa, None),
                              ("list", "deployments.apps", rel, None)):
        where = "all namespaces" if n is None else n.split("-")[1]
        check(not can(verb, res, n, sub), "cannot %s %s%s in %s" % (
            verb, res, "/" + sub if sub else "", where))

    # lagscale itself, with the chart's rendered config, as the ServiceAccount,
    # in-cluster: the directory holds what the chart's projected volume
    # mounts at /var/run/secrets/kubernetes.io/serviceaccount, a token of
    # the rendered life from the TokenRequest API, the kube-root-ca.crt
    # ConfigMap's ca.crt and the namespace.
    dep = [o for o in objs if o["kind"] == "Deployment"][0]
    life = [src["serviceAccountToken"]["expirationSeconds"]
            for v in dep["spec"]["template"]["spec"]["volumes"] if "projected" in v
            for src in v["projected"]["sources"] if "serviceAccountToken" in src][0]
    token = kl.sa_token(rel, "lagscale", duration="%ds" % life)
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    check(claims["exp"] - claims["iat"] == life,
          "the API server issues the token for the rendered life (%d s)" % life, str(claims))
    sa_dir = tempfile.mkdtemp(prefix="lagscale-e2e-helm-sa-")
    kl.wait_until(lambda: k("-n", rel, "get", "configmap", "kube-root-ca.crt").returncode == 0,
                  60)
    ca = k("-n", rel, "get", "configmap", "kube-root-ca.crt", "-o",
           "jsonpath={.data.ca\\.crt}").stdout
    for fname, content in (("token", token), ("ca.crt", ca), ("namespace", rel)):
        with open(os.path.join(sa_dir, fname), "w") as f:
            f.write(content)
    api = urllib.parse.urlparse(kl.APISERVER)
    pod_env = {n: v for n, v in os.environ.items() if n != "KUBECONFIG"}
    pod_env.update(KUBERNETES_SERVICE_HOST=api.hostname, KUBERNETES_SERVICE_PORT=str(api.port),
                   LAGSCALE_SERVICEACCOUNT_DIR=sa_dir)
    kl.kubeconfig(kc_path, "{token: %s}" % token)
    p = run([KUBECTL, "--kubeconfig", kc_path,
             "get", "deployments", "-A"], check_rc=False)
    check(p.returncode != 0 and "Forbidden" in p.stderr,
          "token: listing Deployments in all namespaces is forbidden", p.stderr)
    kl.make_lag(topic, group, 6, 10)  # lag 60: 6 replicas at lagThreshold 10
    # On this machine: a free loopback port instead of the pod's 0.0.0.0:8080.
    text = cm["data"]["config.yaml"].replace("address: 0.0.0.0:8080", "address: 127.0.0.1:0")
    check("127.0.0.1:0" in text, "the rendered config serves on 0.0.0.0:8080")
    cfg = write_config(text)
    proc = e2e.Proc([LAGSCALE, "run", "--config", cfg, "--output", "json"], env=pod_env)
    try:
        ok = kl.wait_until(lambda: kl.replicas(wa, "deployment", "web") == 6 and
                           kl.replicas(wb, "statefulset", "db") == 6, 60)
        check(ok, "as the chart's ServiceAccount, lagscale scales in both watched namespaces",
              proc.stderr()[-1500:])
        check("in-cluster" in proc.stderr(), "... in-cluster, with the projected volume's files",
              proc.stderr()[-1500:])
        # What the security model promises of the running process.
        listening, writable = hardening.process_footprint(proc.p.pid)
        check(len(listening) == 1, "it listens on one socket only, the metrics address",
              str(listening))
        check(not writable, "it has no file open for writing", str(writable))
        check(kl.lease_holder(rel, "lagscale"), "it holds the Lease in the release namespace")
        check(kl.wait_until(lambda: kl.events(wa, "ScaledUp") and kl.events(wb, "ScaledUp"),
                            60), "it records Events in both namespaces")
        check("forbidden" not in proc.stderr().lower(), "no 403 anywhere",
              proc.stderr()[-1500:])
    finally:
        rc = proc.stop()
    check(rc == 0, "lagscale exits 0 on SIGTERM", proc.stderr()[-800:])
    check(kl.replicas(other, "deployment", "web") == 1, "the unwatched namespace is untouched")
    os.unlink(cfg)

    # A target outside watchNamespaces is refused at install, naming the scaler.
    p = helm("template", "lagscale", CHART, "-n", rel, "-f", vals,
             "--set", "watchNamespaces={%s}" % wa)
    check(p.returncode != 0 and "config.scalers[1] (b)" in p.stderr and wb in p.stderr,
          "a target outside watchNamespaces fails the render, naming the scaler", p.stderr)
finally:
    for n in (rel, wa, wb, other):
        k("delete", "namespace", n, "--wait=false")
    for f in (vals, kc_path):
        if os.path.exists(f):
            os.unlink(f)
    if sa_dir:
        shutil.rmtree(sa_dir, ignore_errors=True)

# crds/: the LagScaler CRD, the same as deploy/'s; Helm installs it with the
# chart (helm template shows it with --include-crds).
p = helm("template", "x", CHART, "--include-crds")
crds = [o for o in objects(p.stdout) if o["kind"] == "CustomResourceDefinition"] \
    if p.returncode == 0 else []
deploy_crd = objects(open(os.path.join(ROOT, "deploy", "crd-lagscalers.yaml")).read())
check(len(crds) == 1 and crds == deploy_crd and
      crds[0]["metadata"]["name"] == "lagscalers.lagscale.io",
      "crds/ holds the LagScaler CRD of deploy/", p.stderr)
p = helm("template", "x", CHART)
check(p.returncode == 0 and "CustomResourceDefinition" not in p.stdout,
      "the CRD is not among the templates (Helm's crds/ convention)")

# lagScalers.enabled=false: no rights on LagScalers, and the config says so.
for extra in ([], ["--set", "watchNamespaces={shop}"]):
    p = helm("template", "x", CHART, "-n", "lagscale", "--set", "lagScalers.enabled=false",
             *extra)
    objs = objects(p.stdout) if p.returncode == 0 else []
    rules = [r for o in objs if o["kind"] in ("ClusterRole", "Role") for r in o["rules"]]
    check(rules and not any("lagscale.io" in r["apiGroups"] for r in rules) and
          any("apps" in r["apiGroups"] for r in rules),
          "lagScalers.enabled=false: no LagScaler rules %s" % " ".join(extra), json.dumps(rules))
    cm = [o for o in objs if o["kind"] == "ConfigMap"]
    check(cm and "lagScalers: false" in cm[0]["data"]["config.yaml"],
          "lagScalers.enabled=false sets kubernetes.lagScalers: false %s" % " ".join(extra),
          cm[0]["data"]["config.yaml"] if cm else p.stderr)
p = helm("template", "x", CHART, "-n", "lagscale")
check(p.returncode == 0 and "lagScalers" not in p.stdout and "watchNamespaces" not in p.stdout,
      "by default the config leaves both at lagscale's defaults (LagScalers on, all "
      "namespaces)")
for key, flag in (("watchNamespaces", "config.kubernetes.watchNamespaces={shop}"),
                  ("lagScalers", "config.kubernetes.lagScalers=false")):
    p = helm("template", "x", CHART, "--set", flag)
    check(p.returncode != 0 and "config.kubernetes.%s" % key in p.stderr,
          "config.kubernetes.%s is refused: the chart's value sets it with the RBAC" % key,
          p.stderr)
p = helm("lint", CHART, "--strict", "--set", "lagScalers.enabeld=false")
check(p.returncode != 0 and "enabeld" in p.stdout + p.stderr,
      "values.schema.json refuses lagScalers.enabeld", p.stdout + p.stderr)

# Toggles: no RBAC, an existing ServiceAccount, no PodDisruptionBudget.
p = helm("template", "x", CHART, "-n", "lagscale", "--set", "rbac.create=false",
         "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=existing",
         "--set", "podDisruptionBudget.enabled=false")
objs = objects(p.stdout) if p.returncode == 0 else []
kinds = sorted(o["kind"] for o in objs)
check(kinds == ["ConfigMap", "Deployment", "Service"], "rbac.create=false, serviceAccount.create"
      "=false, podDisruptionBudget.enabled=false render none of them", str(kinds))
check(any(o["kind"] == "Deployment" and
          o["spec"]["template"]["spec"]["serviceAccountName"] == "existing" for o in objs),
      "serviceAccount.name is used")
dep = [o for o in objs if o["kind"] == "Deployment"]
if dep:
    # An existing ServiceAccount may automount its token: the pod opts out itself.
    hardening.check_pod(dep[0], None, "chart, an existing ServiceAccount")
p = helm("template", "x", CHART, "-n", "lagscale", "--set",
         "serviceAccount.tokenExpirationSeconds=7200", "--set", "serviceAccount.automount=true")
objs = objects(p.stdout) if p.returncode == 0 else []
vols = [v for o in objs if o["kind"] == "Deployment"
        for v in o["spec"]["template"]["spec"]["volumes"] if "projected" in v]
check(vols and vols[0]["projected"]["sources"][0]["serviceAccountToken"]
      ["expirationSeconds"] == 7200, "serviceAccount.tokenExpirationSeconds sets the life",
      str(vols))
check([o.get("automountServiceAccountToken") for o in objs if o["kind"] == "ServiceAccount"] ==
      [True], "serviceAccount.automount sets the ServiceAccount's automount")
p = helm("template", "x", CHART, "-n", "lagscale", "--set", "output=text",
         "--set", "extraArgs={--dry-run}", "--set", "podDisruptionBudget.minAvailable=1",
         "--set", "config.leaderElection.enabled=false")
objs = objects(p.stdout) if p.returncode == 0 else []
dep = [o for o in objs if o["kind"] == "Deployment"]
args = dep[0]["spec"]["template"]["spec"]["containers"][0]["args"] if dep else []
check(args[3:] == ["--output", "text", "--dry-run"], "output=text and extraArgs", str(args))
pdb = [o["spec"] for o in objs if o["kind"] == "PodDisruptionBudget"]
check(pdb and pdb[0].get("minAvailable") == 1 and "maxUnavailable" not in pdb[0],
      "podDisruptionBudget.minAvailable replaces maxUnavailable", str(pdb))
check(not [o for o in objs if o["kind"] == "Role"],
      "no Lease Role without leader election")

# NOTES.txt: how to see decisions.
p = helm("install", "lagscale", CHART, "-n", "lagscale", "--dry-run", "--kubeconfig", ADMIN)
check(p.returncode == 0, "helm install --dry-run renders NOTES.txt", p.stderr)
notes = p.stdout.split("NOTES:", 1)[-1]
for want in ("one JSON object per line on stdout", "logs -f",
             "get lease lagscale -o jsonpath='{.spec.holderIdentity}'",
             "--field-selector reason=ScaledUp", "/metrics", "replicas_desired",
             "orders -> shop/Deployment/order-consumer", "kubectl get lagscalers -A"):
    check(want in notes, "NOTES mention %s" % want, notes)
# A scaler with no target (or a target without kind) does not crash NOTES.txt.
nt = values_file({"config": {"scalers": [
    {"name": "a", "kafka": {"cluster": "main", "group": "g", "topics": ["t"]}},
    {"name": "b", "target": {"namespace": "shop", "name": "web"}}]}})
p = helm("install", "lagscale", CHART, "-n", "lagscale", "--dry-run", "--kubeconfig", ADMIN,
         "-f", nt)
os.unlink(nt)
notes = p.stdout.split("NOTES:", 1)[-1]
check(p.returncode == 0 and "a -> (no target)" in notes and "b -> shop/Deployment/web" in notes,
      "NOTES.txt with a scaler that has no target", p.stderr + notes)
p = helm("install", "lagscale", CHART, "-n", "lagscale", "--dry-run", "--kubeconfig", ADMIN,
         "--set", "config.leaderElection.enabled=false", "--set", "replicaCount=1")
notes = p.stdout.split("NOTES:", 1)[-1]
check(p.returncode == 0 and "logs deploy/lagscale -f" in notes and "Lease" not in notes,
      "without leader election NOTES show the Deployment's logs and no Lease", notes)
p = helm("install", "lagscale", CHART, "-n", "lagscale", "--dry-run", "--kubeconfig", ADMIN,
         "--set", "lagScalers.enabled=false")
notes = p.stdout.split("NOTES:", 1)[-1]
check(p.returncode == 0 and "lagscalers" not in notes,
      "with lagScalers.enabled=false NOTES do not mention LagScalers", notes)

done()
