"""Helpers shared by the test_kube_*.py end-to-end tests (not a test itself).

kubectl against the environment's real kube-apiserver, namespaces that
clean up after themselves, workloads, RBAC for the `lagscale` identities,
lag on the real broker, and lagscale configurations.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time

import e2e

KUBECTL = os.environ.get("LAGSCALE_E2E_KUBECTL", "kubectl")
ADMIN_KUBECONFIG = os.environ.get("LAGSCALE_E2E_KUBECONFIG", "")
APISERVER = os.environ.get("LAGSCALE_E2E_APISERVER", "")
KUBE_CA = os.environ.get("LAGSCALE_E2E_KUBE_CA", "")
ENV_SCRIPT = os.environ.get("LAGSCALE_E2E_ENV", os.path.join(e2e.E2E_DIR, "env"))

# The permissions lagscale documents (deploy/rbac.yaml), as Roles in the
# test's namespace: workloads and events, and the Lease.
RBAC_RULES = """
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["apps"]
  resources: ["deployments/scale", "statefulsets/scale"]
  verbs: ["get", "update", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "update"]
"""


def kubectl(*args, kubeconfig=None, input=None, check=True, timeout=60):
    p = subprocess.run([KUBECTL, "--kubeconfig", kubeconfig or ADMIN_KUBECONFIG] + list(args),
                       capture_output=True, text=True, input=input, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("kubectl %s exited %d: %s" % (" ".join(args), p.returncode,
                                                         p.stderr))
    return p


def kubectl_json(*args, **kw):
    return json.loads(kubectl(*(list(args) + ["-o", "json"]), **kw).stdout)


def apply(yaml_text, ns=None):
    args = ["apply", "-f", "-"] + (["-n", ns] if ns else [])
    kubectl(*args, input=yaml_text)


class Namespace:
    """A namespace of its own; deleted (without waiting) at the end."""

    def __init__(self, prefix):
        self.name = e2e.uid(prefix)

    def __enter__(self):
        kubectl("create", "namespace", self.name)
        return self.name

    def __exit__(self, *exc):
        kubectl("delete", "namespace", self.name, "--wait=false", check=False)
        return False


def create_deployment(ns, name, replicas):
    kubectl("-n", ns, "create", "deployment", name, "--image=registry.invalid/consumer:1",
            "--replicas=%d" % replicas)


def create_statefulset(ns, name, replicas):
    apply("""
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: %s}
spec:
  replicas: %d
  serviceName: %s
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec: {containers: [{name: c, image: registry.invalid/consumer:1}]}
""" % (name, replicas, name, name, name), ns)


def replicas(ns, kind, name):
    return kubectl_json("-n", ns, "get", kind, name)["spec"].get("replicas", 0)


def resource_version(ns, kind, name):
    return kubectl_json("-n", ns, "get", kind, name)["metadata"]["resourceVersion"]


def events(ns, reason=None):
    """events.k8s.io/v1 Events of the namespace written by lagscale."""
    items = kubectl_json("-n", ns, "get", "events.events.k8s.io")["items"]
    return [e for e in items if e.get("reportingController") == "lagscale.io/lagscale"
            and (reason is None or e.get("reason") == reason)]


def lease(ns, name):
    p = kubectl("-n", ns, "get", "lease", name, "-o", "json", check=False)
    return json.loads(p.stdout) if p.returncode == 0 else None


def lease_holder(ns, name):
    l = lease(ns, name)
    return (l or {}).get("spec", {}).get("holderIdentity") or ""


def wait_until(pred, timeout, step=0.2):
    """Polls pred() until it is truthy or timeout; returns the last value."""
    end = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() > end:
            return v
        time.sleep(step)


def wait_namespaces_settled(timeout=180):
    """Waits until no namespace is being deleted: kube-controller-manager
    lists and deletes a deleted namespace's objects meanwhile, which the API
    server's request counters would count with a test's own."""
    return wait_until(lambda: "Terminating" not in kubectl("get", "namespaces").stdout,
                      timeout, step=1)


def grant(ns, subject_kind, subject_name, rules=RBAC_RULES, name="lagscale",
          subject_ns=None):
    """A Role with rules in ns, bound to a User, Group or ServiceAccount."""
    subj = "{kind: %s, name: %s%s}" % (
        subject_kind, subject_name,
        ", namespace: %s" % subject_ns if subject_kind == "ServiceAccount" else
        ", apiGroup: rbac.authorization.k8s.io")
    apply("""
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: %s}
rules: %s
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: %s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: %s}
subjects: [%s]
""" % (name, rules, name, name, subj), ns)


def sa_token(ns, sa, bound_secret=None, duration="1h"):
    args = ["-n", ns, "create", "token", sa, "--duration", duration]
    if bound_secret:
        args += ["--bound-object-kind", "Secret", "--bound-object-name", bound_secret]
    return kubectl(*args).stdout.strip()


def client_cert(name, *groups):
    p = e2e.run([ENV_SCRIPT, "client-cert", name] + list(groups))
    crt, key, kc = p.stdout.strip().splitlines()[-1].split()
    return crt, key, kc


def kubeconfig(path, user_block, cluster_extra="", server=None, ca=True):
    """Writes a kubeconfig with one cluster, one user (a YAML map) and a context."""
    cluster = "server: %s" % (server or APISERVER)
    if ca:
        cluster += "\n    certificate-authority: %s" % KUBE_CA
    if cluster_extra:
        cluster += "\n    " + cluster_extra
    with open(path, "w") as f:
        f.write("""apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    %s
users:
- name: u
  user: %s
contexts:
- name: e2e
  context: {cluster: e2e, user: u}
current-context: e2e
""" % (cluster, user_block))
    return path


def make_lag(topic, group, partitions, per_partition, committed=0):
    """A topic with per_partition messages on each partition and the group
    committed at `committed` on each: lag (per_partition - committed) each."""
    e2e.create_topic(topic, partitions)
    for p in range(partitions):
        e2e.produce(topic, per_partition, p)
    e2e.commit(group, *[(topic, p, committed) for p in range(partitions)])


def config(scalers, kubeconfig_path=None, leader=None, log_level="info"):
    """A lagscale config for the PLAINTEXT broker.

    scalers: list of dicts with name, kind, ns, target, group, topic and an
    optional policy (YAML flow map text). leader: None (disabled) or a
    YAML flow map of leaderElection fields (enabled: true implied)."""
    lines = ["kafka:",
             "  clusters: [{name: main, bootstrapServers: \"%s\"}]" % e2e.KAFKA]
    if kubeconfig_path:
        lines.append("kubernetes: {kubeconfig: \"%s\"}" % kubeconfig_path)
    if leader:
        lines.append("leaderElection: {enabled: true, %s}" % leader)
    else:
        lines.append("leaderElection: {enabled: false}")
    lines += ["server: {address: \"127.0.0.1:0\"}",
              "log: {level: %s}" % log_level, "scalers:"]
    for s in scalers:
        lines += [
            "  - name: %s" % s["name"],
            "    target: {apiVersion: %s, kind: %s, namespace: %s, name: %s}" % (
                s.get("api_version", "apps/v1"), s.get("kind", "Deployment"), s["ns"],
                s["target"]),
            "    kafka: {cluster: main, group: %s, topics: [%s]}" % (s["group"], s["topic"]),
            "    policy: %s" % s.get("policy", FAST_POLICY),
        ]
    return e2e.write_config("\n".join(lines) + "\n")


# Polls every second, scales up at once, down after a 10 s window.
FAST_POLICY = ("{lagThreshold: 10, maxReplicas: 10, pollingInterval: 1s, behavior: "
               "{scaleUp: {stabilizationWindow: 0s, policies: [{type: Pods, value: 10, "
               "period: 1s}]}, scaleDown: {stabilizationWindow: 10s, policies: "
               "[{type: Percent, value: 100, period: 1s}]}}}")


def decisions(text, scaler=None):
    return [d for d in e2e.json_lines(text) if scaler is None or d.get("scaler") == scaler]


def tmpdir():
    d = tempfile.mkdtemp(prefix="lagscale-e2e-kube-")
    return d


def cleanup_dir(d):
    shutil.rmtree(d, ignore_errors=True)


def consumer_crd(group):
    """A namespaced CRD, kind Consumer of group `group` (v1alpha1), with a
    scale subresource: YAML for apply()."""
    return """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: consumers.%s}
spec:
  group: %s
  scope: Namespaced
  names: {plural: consumers, singular: consumer, kind: Consumer, listKind: ConsumerList}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {replicas: {type: integer}}}
          status: {type: object, properties: {replicas: {type: integer},
                                              selector: {type: string}}}
    subresources:
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas,
              labelSelectorPath: .status.selector}
""" % (group, group)
