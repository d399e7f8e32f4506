"""charts/lagscale: `helm lint`; `helm template` with the default values and
with examples/full-values.yaml, each applied with --dry-run=server to the
real kube-apiserver (its namespace created first; the Prometheus operator's
kinds against stand-in CRDs); the rendered config passes `lagscale
check-config`; the chart's RBAC is deploy/'s rule set; the toggles work;
NOTES.txt says how to see decisions."""
import json
import os
import re

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

ensure_namespace("lagscale")  # full-values puts the Lease there
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
        objs = {(o["kind"], o["metadata"]["name"]): o for o in objects(rendered)}
        kinds = sorted({kd for kd, _ in objs})
        want = ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Role",
                "RoleBinding", "Service", "ServiceAccount"]
        if extra:
            want = sorted(want + ["PrometheusRule", "ServiceMonitor"])
        check(kinds == want, "kinds rendered (%s)" % name, str(kinds))

        dep = [o for (kd, _), o in objs.items() if kd == "Deployment"][0]
        spec = dep["spec"]["template"]["spec"]
        c = spec["containers"][0]
        check(spec["securityContext"].get("runAsUser") == 65532 and
              spec["securityContext"].get("runAsNonRoot") is True and
              c["securityContext"].get("readOnlyRootFilesystem") is True and
              c["securityContext"].get("capabilities", {}).get("drop") == ["ALL"],
              "secure defaults in the pod (%s)" % name)
        cm = [o for (kd, _), o in objs.items() if kd == "ConfigMap"][0]
        path = write_config(cm["data"]["config.yaml"])
        env = dict(os.environ, KAFKA_PASSWORD="x")
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
            check(envs.get("KAFKA_PASSWORD", {}).get("valueFrom", {}).get("secretKeyRef") ==
                  {"name": "kafka-credentials", "key": "password"},
                  "the Kafka password comes from an existing Secret")
            check("${env:KAFKA_PASSWORD}" in cm["data"]["config.yaml"] and
                  "hunter" not in rendered, "the config refers to it as ${env:KAFKA_PASSWORD}")
            check(spec.get("nodeSelector") and spec.get("tolerations") and spec.get("affinity"),
                  "nodeSelector, tolerations, affinity")
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

# Toggles: no RBAC, an existing ServiceAccount.
p = helm("template", "x", CHART, "-n", "lagscale", "--set", "rbac.create=false",
         "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=existing")
objs = objects(p.stdout) if p.returncode == 0 else []
kinds = sorted(o["kind"] for o in objs)
check(kinds == ["ConfigMap", "Deployment", "Service"], "rbac.create=false, serviceAccount.create"
      "=false render neither", str(kinds))
check(any(o["kind"] == "Deployment" and
          o["spec"]["template"]["spec"]["serviceAccountName"] == "existing" for o in objs),
      "serviceAccount.name is used")

# NOTES.txt: how to see decisions.
p = helm("install", "lagscale", CHART, "-n", "lagscale", "--dry-run", "--kubeconfig", ADMIN)
check(p.returncode == 0, "helm install --dry-run renders NOTES.txt", p.stderr)
notes = p.stdout.split("NOTES:", 1)[-1]
for want in ("logs deploy/lagscale", "--field-selector reason=ScaledUp", "/metrics",
             "replicas_desired"):
    check(want in notes, "NOTES mention %s" % want, notes)

done()
