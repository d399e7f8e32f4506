"""The LagScaler CRD (charts/lagscale/crds/lagscale.io_lagscalers.yaml, the
same bytes as deploy/crd-lagscalers.yaml) on the real kube-apiserver:
applied with kubectl and Established; a full LagScaler is accepted as
written and a minimal one gets lagscale's defaults; `kubectl get ls` shows
the printer columns; what the schema and its CEL rules can check is refused
at admission, naming the field (minReplicas > maxReplicas, topics and
topicPattern, an unknown mode, a negative lagThreshold, bad and out-of-range
durations, target.namespace, a built-in kind without /scale, ${env:...},
an unknown field with --validate=strict); the controller's status goes
through the status subresource (and only there) and shows in the columns;
and every LagScaler that `lagscale import-keda --to lagscaler` makes of
test/data/keda passes a server-side dry run."""
import copy
import glob
import json
import os

from e2e import LAGSCALE, check, done, run, uid

ROOT = os.environ.get("LAGSCALE_SOURCE_ROOT",
                      os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CRD = os.path.join(ROOT, "charts", "lagscale", "crds", "lagscale.io_lagscalers.yaml")
DEPLOY_CRD = os.path.join(ROOT, "deploy", "crd-lagscalers.yaml")
KUBECTL = os.environ["LAGSCALE_E2E_KUBECTL"]
ADMIN = os.environ["LAGSCALE_E2E_KUBECONFIG"]


def k(*args, input=None, check_rc=False):
    return run([KUBECTL, "--kubeconfig", ADMIN] + list(args), input=input, check_rc=check_rc)


def lagscaler(name, spec):
    return {"apiVersion": "lagscale.io/v1alpha1", "kind": "LagScaler",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def apply(obj, *extra):
    return k("apply", "--validate=strict", "-f", "-", *extra, input=json.dumps(obj))


def get(name):
    return json.loads(k("-n", ns, "get", "ls", name, "-o", "json", check_rc=True).stdout)


with open(CRD, "rb") as a, open(DEPLOY_CRD, "rb") as b:
    check(a.read() == b.read(), "deploy/crd-lagscalers.yaml is the chart's CRD, byte for byte")

p = k("apply", "-f", CRD)
check(p.returncode == 0, "kubectl apply -f the CRD", p.stderr)
p = k("wait", "--for", "condition=established", "crd/lagscalers.lagscale.io", "--timeout=60s")
check(p.returncode == 0, "the CRD is Established", p.stderr)
p = k("api-resources", "--api-group=lagscale.io", "-o", "wide")
check("lagscalers" in p.stdout and " ls " in p.stdout and "LagScaler" in p.stdout and
      "true" in p.stdout, "served: lagscalers, short name ls, namespaced", p.stdout)

ns = uid("ls-crd")
k("create", "namespace", ns, check_rc=True)
try:
    # Every key, none at its default, and both forms of a duration.
    full = {
        "target": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "order-consumer"},
        "kafka": {"cluster": "main", "group": "order-processor", "topics": ["orders", "orders.v2"],
                  "partitions": "0-11, 14", "offsetResetPolicy": "earliest",
                  "isolationLevel": "read_committed"},
        "policy": {"mode": "rate", "lagThreshold": 500, "activationLagThreshold": 10,
                   "minReplicas": 2, "maxReplicas": 12, "idleReplicas": 0,
                   "pollingInterval": 30, "cooldownPeriod": "1h30m", "tolerance": 0.2,
                   "allowIdleConsumers": True, "limitToPartitionsWithLag": True,
                   "partitionAware": False, "ensureEvenDistributionOfPartitions": True,
                   "excludePersistentLag": True, "scaleToZeroOnInvalidOffset": True,
                   "targetDrainTime": "90s", "perReplicaRate": "12.5", "maxConsumeRate": 900.5,
                   "behavior": {
                       "scaleUp": {"stabilizationWindow": "30s", "selectPolicy": "Min",
                                   "policies": [{"type": "Pods", "value": 2, "period": "1m"}]},
                       "scaleDown": {"stabilizationWindow": 600, "selectPolicy": "Disabled",
                                     "policies": []}},
                   "fallback": {"failureThreshold": 5, "replicas": 4, "behavior": "static"}}}
    p = apply(lagscaler("full", full))
    check(p.returncode == 0, "a LagScaler with every key is accepted (--validate=strict)",
          p.stderr)
    if p.returncode == 0:
        got = get("full")["spec"]
        check(got == full, "... and stored as written", json.dumps(got))

    # The minimal one: lagscale's built-in defaults filled in.
    minimal = {"target": {"name": "web"}, "kafka": {"group": "g"},
               "policy": {"idleReplicas": None}}
    p = apply(lagscaler("minimal", minimal))
    check(p.returncode == 0, "a minimal LagScaler is accepted (idleReplicas: null too)", p.stderr)
    if p.returncode == 0:
        got = get("minimal")["spec"]
        want = {
            "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "kafka": {"group": "g", "offsetResetPolicy": "latest",
                      "isolationLevel": "read_uncommitted"},
            "policy": {"mode": "lag", "lagThreshold": 1000, "activationLagThreshold": 0,
                       "minReplicas": 1, "maxReplicas": 24, "pollingInterval": "15s",
                       "cooldownPeriod": "300s", "tolerance": 0.1, "allowIdleConsumers": False,
                       "limitToPartitionsWithLag": False, "partitionAware": True,
                       "ensureEvenDistributionOfPartitions": False,
                       "excludePersistentLag": False, "scaleToZeroOnInvalidOffset": False,
                       "targetDrainTime": "120s", "perReplicaRate": "auto",
                       "maxConsumeRate": 0,
                       "behavior": {
                           "scaleUp": {"stabilizationWindow": "0s", "selectPolicy": "Max",
                                       "policies": [
                                           {"type": "Percent", "value": 100, "period": "15s"},
                                           {"type": "Pods", "value": 4, "period": "15s"}]},
                           "scaleDown": {"stabilizationWindow": "300s", "selectPolicy": "Max",
                                         "policies": [{"type": "Percent", "value": 100,
                                                       "period": "15s"}]}},
                       # replicas and behavior have no default: either changes the
                       # meaning of the other (KEDA's static fallback).
                       "fallback": {"failureThreshold": 3}}}
        check(got == want, "the defaults are lagscale's built-in ones", json.dumps(got))

    p = k("-n", ns, "get", "ls")
    header = p.stdout.splitlines()[0].split() if p.stdout else []
    check(header == ["NAME", "TARGET", "MIN", "MAX", "REPLICAS", "DESIRED", "LAG", "LAG-AGE",
                     "READY", "AGE"], "kubectl get ls prints the printer columns", p.stdout)
    p = k("-n", ns, "get", "lagscalers.lagscale.io", "minimal", "--no-headers")
    check(p.stdout.split()[:4] == ["minimal", "web", "1", "24"],
          "TARGET, MIN and MAX from the spec", p.stdout)

    # Refused at admission, naming the field and why.
    def with_(path, value, base=None):
        spec = copy.deepcopy(base or {"target": {"name": "web"},
                                      "kafka": {"group": "g", "topics": ["t"]}})
        node = spec
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
        return spec

    bad = [
        ("minReplicas > maxReplicas",
         with_(["policy"], {"minReplicas": 5, "maxReplicas": 2}),
         ["spec.policy.maxReplicas", "maxReplicas must be >= minReplicas"]),
        ("minReplicas above the default maxReplicas",
         with_(["policy", "minReplicas"], 30), ["spec.policy.maxReplicas"]),
        ("idleReplicas not lower than minReplicas",
         with_(["policy"], {"minReplicas": 2, "idleReplicas": 2}),
         ["spec.policy.idleReplicas", "lower than minReplicas"]),
        ("both topics and topicPattern",
         with_(["kafka", "topicPattern"], "^orders-"),
         ["spec.kafka.topicPattern", "either topics or topicPattern"]),
        ("an empty topics list", with_(["kafka", "topics"], []), ["spec.kafka.topics"]),
        ("a topic name Kafka refuses", with_(["kafka", "topics"], ["a b"]),
         ["spec.kafka.topics[0]"]),
        ("a malformed partition list", with_(["kafka", "partitions"], "0-"),
         ["spec.kafka.partitions"]),
        ("mode: fast", with_(["policy", "mode"], "fast"),
         ["spec.policy.mode", 'Unsupported value: "fast"']),
        ("offsetResetPolicy: smallest", with_(["kafka", "offsetResetPolicy"], "smallest"),
         ["spec.kafka.offsetResetPolicy"]),
        ("a negative lagThreshold", with_(["policy", "lagThreshold"], -5),
         ["spec.policy.lagThreshold", "greater than or equal to 1"]),
        ("lagThreshold 0", with_(["policy", "lagThreshold"], 0), ["spec.policy.lagThreshold"]),
        ("tolerance 1", with_(["policy", "tolerance"], 1), ["spec.policy.tolerance"]),
        ("a bad duration string", with_(["policy", "pollingInterval"], "15 seconds"),
         ["spec.policy.pollingInterval", "should match"]),
        ("units out of order", with_(["policy", "cooldownPeriod"], "30m1h"),
         ["spec.policy.cooldownPeriod"]),
        ("a pollingInterval under 1s", with_(["policy", "pollingInterval"], "500ms"),
         ["spec.policy.pollingInterval", "at least 1s"]),
        ("a duration over 8784h", with_(["policy", "cooldownPeriod"], "8785h"),
         ["spec.policy.cooldownPeriod", "at most 8784h"]),
        ("targetDrainTime 0", with_(["policy", "targetDrainTime"], 0),
         ["spec.policy.targetDrainTime"]),
        ("a stabilization window over 1h",
         with_(["policy", "behavior"], {"scaleDown": {"stabilizationWindow": "2h"}}),
         ["spec.policy.behavior.scaleDown.stabilizationWindow", "at most 1h"]),
        ("a policy period over 30m",
         with_(["policy", "behavior"], {"scaleUp": {"policies": [
             {"type": "Pods", "value": 1, "period": "31m"}]}}),
         ["spec.policy.behavior.scaleUp.policies[0].period", "at most 30m"]),
        ("a behavior policy without its period",
         with_(["policy", "behavior"], {"scaleUp": {"policies": [{"type": "Pods", "value": 1}]}}),
         ["spec.policy.behavior.scaleUp.policies[0].period", "Required value"]),
        ("a behavior policy of an unknown type",
         with_(["policy", "behavior"], {"scaleUp": {"policies": [
             {"type": "Replicas", "value": 1, "period": "15s"}]}}),
         ["spec.policy.behavior.scaleUp.policies[0].type"]),
        ("no policies with selectPolicy Max",
         with_(["policy", "behavior"], {"scaleDown": {"policies": []}}),
         ["spec.policy.behavior.scaleDown.policies", "unless selectPolicy is Disabled"]),
        ("fallback.behavior: sometimes", with_(["policy", "fallback"], {"behavior": "sometimes"}),
         ["spec.policy.fallback.behavior"]),
        ("perReplicaRate 0", with_(["policy", "perReplicaRate"], "0"),
         ["spec.policy.perReplicaRate", "auto or a number > 0"]),
        ("perReplicaRate: fast", with_(["policy", "perReplicaRate"], "fast"),
         ["spec.policy.perReplicaRate", "should match"]),
        ("target.namespace", with_(["target", "namespace"], "other"),
         ["spec.target.namespace", "own namespace"]),
        ("a Job as the target", with_(["target"], {"apiVersion": "batch/v1", "kind": "Job",
                                                    "name": "j"}),
         ["spec.target.kind", "/scale"]),
        ("Deployment at apiVersion v1", with_(["target", "apiVersion"], "v1"),
         ["spec.target.kind"]),
        ("a group without a dot", with_(["target", "apiVersion"], "app/v1"),
         ["spec.target.apiVersion", "has a dot"]),
        ("a lowercase kind", with_(["target", "kind"], "deployment"), ["spec.target.kind"]),
        ("${env:...} in a value", with_(["kafka", "group"], "${env:KAFKA_PASSWORD}"),
         ["spec.kafka.group", "not substituted"]),
        ("${file:...} in a value", with_(["target", "name"], "${file:/etc/passwd}"),
         ["spec.target.name", "not substituted"]),
        ("no kafka.group", {"target": {"name": "web"}, "kafka": {"topics": ["t"]}},
         ["spec.kafka.group", "Required value"]),
        ("no target", {"kafka": {"group": "g"}}, ["spec.target", "Required value"]),
        ("an unknown field (--validate=strict)", with_(["policy", "minReplicaCount"], 1),
         ['unknown field "spec.policy.minReplicaCount"']),
        ("the scaler's name in spec", with_(["name"], "orders"), ['unknown field "spec.name"']),
    ]
    for what, spec, wants in bad:
        p = apply(lagscaler(uid("bad"), spec), "--dry-run=server")
        # A rule that cannot run on a malformed value would add a confusing
        # second error (a conversion error): the pattern's is enough.
        check(p.returncode != 0 and all(w in p.stderr for w in wants) and
              "evaluating rule" not in p.stderr and "no such key" not in p.stderr,
              "refused at admission: %s (%s)" % (what, ", ".join(wants)), p.stderr)
    p = k("-n", ns, "get", "ls", "-o", "name")
    check(sorted(p.stdout.split()) == ["lagscaler.lagscale.io/full",
                                       "lagscaler.lagscale.io/minimal"],
          "nothing refused was stored", p.stdout)
    # The same rules hold on update, not only on create.
    p = k("-n", ns, "patch", "ls", "minimal", "--type=merge", "-p",
          json.dumps({"spec": {"policy": {"maxReplicas": 0}}}))
    check(p.returncode != 0 and "spec.policy.maxReplicas" in p.stderr,
          "an update with maxReplicas 0 is refused too", p.stderr)

    # The controller's status, through the status subresource only.
    status = {"observedGeneration": 1, "currentReplicas": 4, "recommendedReplicas": 6,
              "desiredReplicas": 5, "totalLag": 12345, "lagSeconds": 12.5,
              "partitionCount": 20, "lastScaleTime": "2026-11-30T19:00:00Z",
              "reason": "lag 12345 over threshold 1000: 6 replicas, 5 after scaleUp policies",
              "conditions": [
                  {"type": "Ready", "status": "True", "reason": "Decided", "message": "ok",
                   "lastTransitionTime": "2026-11-30T19:00:00Z", "observedGeneration": 1},
                  {"type": "Active", "status": "True", "reason": "LagOverActivation",
                   "message": "lag 12345 > 0", "lastTransitionTime": "2026-11-30T19:00:00Z",
                   "observedGeneration": 1},
                  {"type": "Fallback", "status": "False", "reason": "LagRead",
                   "message": "", "lastTransitionTime": "2026-11-30T19:00:00Z"},
                  {"type": "Paused", "status": "False", "reason": "NotPaused",
                   "message": "", "lastTransitionTime": "2026-11-30T19:00:00Z"}]}
    p = k("-n", ns, "patch", "ls", "minimal", "--subresource=status", "--type=merge", "-p",
          json.dumps({"status": status}))
    check(p.returncode == 0, "kubectl patch --subresource=status with every status field",
          p.stderr)
    got = get("minimal")
    check(got.get("status") == status, "the status is stored as written",
          json.dumps(got.get("status")))
    p = k("-n", ns, "get", "ls", "minimal", "--no-headers")
    check(p.stdout.split()[:9] == ["minimal", "web", "1", "24", "4", "5", "12345", "12.5",
                                   "True"],
          "the columns show REPLICAS, DESIRED, LAG, LAG-AGE and READY", p.stdout)
    p = k("-n", ns, "patch", "ls", "minimal", "--type=merge", "-p",
          json.dumps({"status": {"currentReplicas": 99}}))
    check(get("minimal")["status"]["currentReplicas"] == 4,
          "a patch of the main resource does not change the status", p.stdout + p.stderr)
    p = k("-n", ns, "patch", "ls", "minimal", "--subresource=status", "--type=merge", "-p",
          json.dumps({"spec": {"policy": {"maxReplicas": 3}}}))
    check(get("minimal")["spec"]["policy"]["maxReplicas"] == 24,
          "a patch of the status subresource does not change the spec", p.stdout + p.stderr)
    p = k("-n", ns, "patch", "ls", "minimal", "--subresource=status", "--type=merge", "-p",
          json.dumps({"status": {"conditions": [{"type": "Ready", "status": "Maybe",
                                                 "reason": "X", "message": "",
                                                 "lastTransitionTime": "2026-11-30T19:00:00Z"}]}}))
    check(p.returncode != 0 and "status.conditions[0].status" in p.stderr,
          "a condition status other than True, False or Unknown is refused", p.stderr)

    # What import-keda --to lagscaler makes is accepted as it is.
    for path in sorted(glob.glob(os.path.join(ROOT, "test", "data", "keda", "*.yaml"))):
        p = run([LAGSCALE, "import-keda", "--to", "lagscaler", path], check_rc=False)
        if not check(p.returncode in (0, 3), "import-keda --to lagscaler %s" %
                     os.path.basename(path), p.stderr):
            continue
        # Into this test's namespace: the manifests name the ScaledObjects'.
        docs = k("create", "--dry-run=client", "-o", "json", "-f", "-", input=p.stdout,
                 check_rc=True).stdout
        objs, dec, i = [], json.JSONDecoder(), 0
        docs = docs.strip()
        while i < len(docs):
            o, i = dec.raw_decode(docs, i)
            while i < len(docs) and docs[i].isspace():
                i += 1
            objs.extend(o.get("items", [o]) if o.get("kind") == "List" else [o])
        for o in objs:
            o["metadata"]["namespace"] = ns
        check(objs and all(o["apiVersion"] == "lagscale.io/v1alpha1" and
                           o["kind"] == "LagScaler" for o in objs),
              "%s: LagScalers of lagscale.io/v1alpha1" % os.path.basename(path))
        d = k("apply", "--dry-run=server", "--validate=strict", "-f", "-",
              input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))
        check(d.returncode == 0 and d.stderr.strip() == "",
              "%s: every imported LagScaler passes kubectl apply --dry-run=server "
              "--validate=strict" % os.path.basename(path), d.stdout + d.stderr)
finally:
    k("delete", "namespace", ns, "--wait=false")

done()
