"""deploy/: `kubectl apply -k deploy/` passes a server-side dry run on the real
kube-apiserver; the Deployment is what the issue asks (2 replicas, non-root
65532, read-only root, no capabilities, startup/liveness/readiness probes,
small requests, `run --output json`), hardened as hardening.py checks (no
default token, a projected one with a bounded life; the pod accepted by the
API server's PodSecurity admission in a namespace enforcing "restricted"), with
a PodDisruptionBudget; the ConfigMap comes from a configMapGenerator, so its
name carries a hash of config.yaml that an edit changes, and the Deployment
follows it; its config is valid; the PrometheusRule passes a dry run against
stand-in CRDs; the alerts and the Grafana dashboard use only metric names of
the DESIGN.md section 8 contract."""
import json
import os
import re
import shutil
import subprocess
import tempfile

import hardening
from e2e import LAGSCALE, check, done, run, uid, write_config

ROOT = os.environ.get("LAGSCALE_SOURCE_ROOT",
                      os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DEPLOY = os.path.join(ROOT, "deploy")
KUBECTL = os.environ["LAGSCALE_E2E_KUBECTL"]
ADMIN = os.environ["LAGSCALE_E2E_KUBECONFIG"]

CONTRACT = {"lagscale_lag_messages", "lagscale_partition_lag_messages", "lagscale_lag_seconds",
            "lagscale_produce_rate", "lagscale_consume_rate", "lagscale_replicas_current",
            "lagscale_replicas_recommended", "lagscale_replicas_desired",
            "lagscale_scale_events_total", "lagscale_errors_total",
            "lagscale_collect_duration_seconds", "lagscale_scaler_active",
            "lagscale_fallback_active", "lagscale_hot_partitions", "lagscale_is_leader",
            "lagscale_build_info", "lagscale_partition_committed_offset",
            "lagscale_partition_end_offset", "lagscale_scaler_paused"}


def k(*args, input=None, check_rc=False, timeout=60):
    return run([KUBECTL, "--kubeconfig", ADMIN] + list(args), input=input, check_rc=check_rc,
               timeout=timeout)


def ensure_namespace(ns):
    if k("get", "namespace", ns).returncode != 0:
        k("create", "namespace", ns, check_rc=True)


def ensure_monitoring_crds():
    """Stand-ins for the Prometheus operator's CRDs (schema-less, same group,
    version and kinds), so the server can dry-run a PrometheusRule and a
    ServiceMonitor. Left in place: creating them is idempotent and cheap."""
    for plural, kind in (("prometheusrules", "PrometheusRule"),
                         ("servicemonitors", "ServiceMonitor")):
        name = "%s.monitoring.coreos.com" % plural
        if k("get", "crd", name).returncode == 0:
            continue
        crd = {
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
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


def json_objects(text):
    """Objects of `kubectl create --dry-run=client -o json` (one per document,
    back to back; a List's items flattened)."""
    dec, i, out = json.JSONDecoder(), 0, []
    text = text.strip()
    while i < len(text):
        o, i = dec.raw_decode(text, i)
        while i < len(text) and text[i].isspace():
            i += 1
        out.extend(o.get("items", [o]) if o.get("kind") == "List" else [o])
    return out


def metric_names(text):
    names = set()
    for m in re.findall(r"\blagscale_[a-z_]+", text):
        for suffix in ("_bucket", "_sum", "_count"):
            if m.endswith(suffix) and m[:-len(suffix)] in CONTRACT:
                m = m[:-len(suffix)]
        names.add(m)
    return names


# 1. kubectl apply -k deploy/, server-side dry run.
ensure_namespace("lagscale")
p = k("apply", "-k", DEPLOY, "--dry-run=server")
check(p.returncode == 0, "kubectl apply -k deploy/ --dry-run=server", p.stderr)
print(p.stdout.strip())
check("would violate PodSecurity" not in p.stderr,
      "the pod template meets PodSecurity \"restricted\"", p.stderr)
for kind in ("namespace/lagscale", "serviceaccount/lagscale", "clusterrole.rbac.authorization.k8s.io/lagscale",
             "clusterrolebinding.rbac.authorization.k8s.io/lagscale",
             "role.rbac.authorization.k8s.io/lagscale-leader-election",
             "rolebinding.rbac.authorization.k8s.io/lagscale-leader-election",
             "deployment.apps/lagscale", "service/lagscale",
             "poddisruptionbudget.policy/lagscale",
             "customresourcedefinition.apiextensions.k8s.io/lagscalers.lagscale.io"):
    check(kind + " " in p.stdout, "dry run covers %s" % kind)
check(re.search(r"^configmap/lagscale-[a-z0-9]{10} ", p.stdout, re.M),
      "dry run covers the generated configmap/lagscale-<hash>", p.stdout)


def build(path):
    """`kubectl kustomize path` as objects, keyed by kind and name."""
    p = k("kustomize", path, check_rc=True)
    objs = json_objects(k("create", "--dry-run=client", "-o", "json", "-f", "-", input=p.stdout,
                          check_rc=True).stdout)
    return {(o["kind"], o["metadata"]["name"]): o for o in objs}


def config_map(items):
    cms = [o for (kd, _), o in items.items() if kd == "ConfigMap"]
    return cms[0] if len(cms) == 1 else None


def mounted_config_map(dep):
    vols = dep["spec"]["template"]["spec"]["volumes"] if dep else []
    return [v["configMap"]["name"] for v in vols if v["name"] == "config"][0]

# 2. What the objects say.
items = build(DEPLOY)
dep = items.get(("Deployment", "lagscale"))
check(dep is not None, "a Deployment lagscale")
if dep:
    spec = dep["spec"]["template"]["spec"]
    c = spec["containers"][0]
    psc, csc = spec.get("securityContext", {}), c.get("securityContext", {})
    check(dep["spec"]["replicas"] == 2, "2 replicas")
    check(psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 65532,
          "runAsNonRoot, runAsUser 65532", str(psc))
    check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "seccomp RuntimeDefault")
    check(csc.get("readOnlyRootFilesystem") is True and
          csc.get("allowPrivilegeEscalation") is False and
          csc.get("capabilities", {}).get("drop") == ["ALL"],
          "read-only root, no privilege escalation, all capabilities dropped", str(csc))
    check(c["livenessProbe"]["httpGet"]["path"] == "/healthz" and
          c["readinessProbe"]["httpGet"]["path"] == "/readyz" and
          c.get("startupProbe", {}).get("httpGet", {}).get("path") == "/healthz",
          "startup and liveness probes on /healthz, readiness on /readyz")
    check(c["args"] == ["run", "--config", "/etc/lagscale/config.yaml", "--output", "json"],
          "the pod runs `run --output json`: decisions as JSON Lines on stdout", str(c["args"]))
    check(c["resources"]["requests"] == {"cpu": "10m", "memory": "16Mi"} and
          c["resources"]["limits"] == {"cpu": "200m", "memory": "64Mi"},
          "requests 10m/16Mi, limits 200m/64Mi", str(c["resources"]))
    check(c["image"] == "lagscale:0.1.0", "image set by the kustomization", c["image"])
    check(spec["serviceAccountName"] == "lagscale", "runs as ServiceAccount lagscale")
    # Pod hardening, field by field, and the API server's own PodSecurity
    # admission under enforce=restricted.
    hardening.check_pod(dep, items.get(("ServiceAccount", "lagscale")), "deploy/")
    hardening.admitted_restricted(k, dep, "deploy/")
svc = items.get(("Service", "lagscale"))
check(svc is not None and svc["spec"]["ports"][0]["port"] == 8080 and
      svc["spec"]["ports"][0]["name"] == "metrics", "Service port 8080 named metrics")
pdb = items.get(("PodDisruptionBudget", "lagscale"))
check(pdb is not None and pdb["spec"].get("maxUnavailable") == 1 and
      pdb["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "lagscale"},
      "a PodDisruptionBudget: one pod disrupted at a time")
cm = config_map(items)
if check(cm is not None and re.fullmatch(r"lagscale-[a-z0-9]{10}", cm["metadata"]["name"]),
         "one ConfigMap lagscale-<hash>, from the configMapGenerator",
         str(cm and cm["metadata"]["name"])):
    check(dep and mounted_config_map(dep) == cm["metadata"]["name"],
          "the Deployment mounts the generated name")
    check(cm["metadata"].get("namespace") == "lagscale" and
          cm["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "lagscale",
          "the ConfigMap is in namespace lagscale, labelled")
    check(cm["data"]["config.yaml"] == open(os.path.join(DEPLOY, "config.yaml")).read(),
          "its config.yaml is deploy/config.yaml")
    path = write_config(cm["data"]["config.yaml"])
    p = run([LAGSCALE, "check-config", path], check_rc=False)
    check(p.returncode == 0, "the ConfigMap's config passes lagscale check-config",
          p.stdout + p.stderr)
    os.unlink(path)

    # An edit of config.yaml gives a new name, and the Deployment follows:
    # `kubectl apply -k` then changes the pod template, so the pods roll.
    tmp = tempfile.mkdtemp(prefix="lagscale-e2e-kustomize-")
    try:
        copy = os.path.join(tmp, "deploy")
        shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("monitoring", "container"))
        with open(os.path.join(copy, "config.yaml")) as f:
            text = f.read()
        with open(os.path.join(copy, "config.yaml"), "w") as f:
            f.write(text.replace("level: info", "level: debug"))
        edited = build(copy)
        cm2 = config_map(edited)
        dep2 = edited.get(("Deployment", "lagscale"))
        check(cm2 is not None and cm2["metadata"]["name"] != cm["metadata"]["name"] and
              re.fullmatch(r"lagscale-[a-z0-9]{10}", cm2["metadata"]["name"]) and
              "level: debug" in cm2["data"]["config.yaml"],
              "an edit of config.yaml gives the ConfigMap a new name",
              str(cm2 and cm2["metadata"]["name"]))
        check(dep2 and cm2 and mounted_config_map(dep2) == cm2["metadata"]["name"] and
              dep2["spec"]["template"] != dep["spec"]["template"],
              "... which the Deployment's pod template mounts: the pods roll")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

# 3. The PrometheusRule (kept out of the kustomization) dry-runs against
# stand-in CRDs, and its alerts and the dashboard use contract names only.
ensure_monitoring_crds()
rule = os.path.join(DEPLOY, "monitoring", "prometheusrule.yaml")
p = k("apply", "-f", rule, "--dry-run=server")
check(p.returncode == 0, "PrometheusRule: kubectl apply --dry-run=server", p.stderr)
rule_obj = json.loads(k("create", "--dry-run=client", "-o", "json", "-f", rule,
                        check_rc=True).stdout)
alerts = {r["alert"]: r for g in rule_obj["spec"]["groups"] for r in g["rules"]}
for a in ("KafkaConsumerLagRising", "KafkaMessageAgeRising", "LagscaleScalerErrors",
          "LagscaleFallbackActive", "LagscaleDown"):
    check(a in alerts, "alert %s" % a)
if "KafkaConsumerLagRising" in alerts:
    r = alerts["KafkaConsumerLagRising"]
    check(r.get("for") == "5m" and re.search(r"lagscale_lag_messages\)? >", r["expr"]) and
          "delta(" in r["expr"], "lag over a threshold and rising for 5 minutes", r["expr"])
exprs = "\n".join(r["expr"] for r in alerts.values())
unknown = metric_names(exprs) - CONTRACT
check(not unknown, "alerts use contract metric names only", str(unknown))

with open(os.path.join(DEPLOY, "monitoring", "grafana-dashboard.json")) as f:
    dash = json.load(f)
dexprs = "\n".join(t["expr"] for p in dash["panels"] for t in p.get("targets", []))
unknown = metric_names(dexprs) - CONTRACT
check(not unknown, "dashboard uses contract metric names only", str(unknown))
for m in ("lagscale_lag_messages", "lagscale_lag_seconds", "lagscale_replicas_current",
          "lagscale_replicas_desired", "lagscale_produce_rate", "lagscale_consume_rate",
          "lagscale_scale_events_total", "lagscale_errors_total"):
    check(m in dexprs, "dashboard shows %s" % m)

done()
