"""LagScaler objects (DESIGN.md section 11) on the real API server and broker.

`lagscale run` (not dry-run) with a config that has a cluster and no
scalers, the LagScaler CRD applied from charts/lagscale/crds/:
- (a) a LagScaler scales its Deployment on produced lag, its status follows
  (observedGeneration, replicas, lag, partitions, lastScaleTime, reason,
  conditions Ready/Active/Fallback/Paused), `kubectl get ls` prints it,
  and the decisions name the scaler NAMESPACE/NAME;
- (b) an unknown cluster: Ready False with lagscale's message, and one
  Warning Event regarding the LagScaler (not one per round);
- (c) an edit (lagThreshold lowered) takes effect within a polling interval;
- (d) a deleted LagScaler stops scaling: more lag, replicas unchanged;
- (e) a status is not rewritten when nothing changes (resourceVersion of
  the object stable across rounds).
"""
import json
import os
import time

import e2e
import test_kube_lib as k

CRD = os.path.join(os.environ.get("LAGSCALE_SOURCE_ROOT", os.path.join(e2e.E2E_DIR, "..", "..")),
                   "charts", "lagscale", "crds", "lagscale.io_lagscalers.yaml")
POLL_S = 2


def lagscaler(name, target, group, topic, threshold, cluster="main", max_replicas=12,
              pattern=None):
    topics = "topicPattern: \"%s\"" % pattern if pattern else "topics: [%s]" % topic
    return """apiVersion: lagscale.io/v1alpha1
kind: LagScaler
metadata: {name: %s}
spec:
  target: {apiVersion: apps/v1, kind: Deployment, name: %s}
  kafka: {cluster: %s, group: %s, %s}
  policy:
    lagThreshold: %d
    minReplicas: 1
    maxReplicas: %d
    pollingInterval: %ds
    behavior:
      scaleUp: {stabilizationWindow: 0s, policies: [{type: Pods, value: 12, period: 1s}]}
      scaleDown: {stabilizationWindow: 10s, policies: [{type: Percent, value: 100, period: 1s}]}
""" % (name, target, cluster, group, topics, threshold, max_replicas, POLL_S)


def get_ls(ns, name):
    p = k.kubectl("-n", ns, "get", "lagscaler", name, "-o", "json", check=False)
    return json.loads(p.stdout) if p.returncode == 0 else None


def status(ns, name):
    return (get_ls(ns, name) or {}).get("status") or {}


def cond(st, ctype):
    for c in st.get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return {}


def ls_events(ns, name):
    items = k.kubectl_json("-n", ns, "get", "events.events.k8s.io")["items"]
    return [e for e in items if e.get("regarding", {}).get("kind") == "LagScaler"
            and e["regarding"].get("name") == name]


with open(CRD) as f:
    k.apply(f.read())
k.kubectl("wait", "--for", "condition=established", "--timeout=60s",
          "crd/lagscalers.lagscale.io")

with k.Namespace("ls-obj") as ns:
    k.create_deployment(ns, "orders", 1)
    k.create_deployment(ns, "idle", 1)
    k.create_deployment(ns, "nomatch", 1)
    t1, g1 = e2e.uid("lso-orders"), e2e.uid("lso-orders-g")
    t2, g2 = e2e.uid("lso-idle"), e2e.uid("lso-idle-g")
    # 12 partitions x 5 messages, nothing consumed: lag 60.
    k.make_lag(t1, g1, 12, 5)
    # Consumed to the end: lag 0, nothing ever changes.
    k.make_lag(t2, g2, 1, 10, committed=10)
    cfg = e2e.write_config("\n".join([
        "kafka:",
        "  clusters: [{name: main, bootstrapServers: \"%s\"}]" % e2e.KAFKA,
        "leaderElection: {enabled: false}",
        "server: {address: \"127.0.0.1:0\"}",
        "log: {level: info}",
    ]) + "\n")
    env = dict(os.environ, KUBECONFIG=k.ADMIN_KUBECONFIG)
    env.pop("KUBERNETES_SERVICE_HOST", None)
    p = e2e.Proc([e2e.LAGSCALE, "run", "--config", cfg, "--output", "json"], env=env)
    try:
        # (a) lag 60 at lagThreshold 20: 3 replicas.
        k.apply(lagscaler("orders", "orders", g1, t1, 20), ns)
        up = k.wait_until(lambda: k.replicas(ns, "deployment", "orders") == 3, 60)
        e2e.check(up, "a LagScaler scales its Deployment from 1 to 3 on lag 60 (threshold 20)",
                  "replicas %s\n%s" % (k.replicas(ns, "deployment", "orders"),
                                       p.stderr()[-1500:]))
        full = ns + "/orders"
        e2e.check(k.decisions(p.stdout(), full),
                  "decisions name the object scaler NAMESPACE/NAME (%s)" % full,
                  p.stdout()[-600:])

        def settled():
            o = get_ls(ns, "orders") or {}
            st = o.get("status") or {}
            return (st.get("currentReplicas") == 3 and st.get("desiredReplicas") == 3 and
                    st.get("lastScaleTime") and
                    cond(st, "Ready").get("status") == "True" and
                    st.get("observedGeneration") == o["metadata"]["generation"]) and o
        o = k.wait_until(settled, 30)
        st = (o or {}).get("status") or status(ns, "orders")
        e2e.check(o, "its status follows: currentReplicas 3, desiredReplicas 3, Ready True, "
                  "lastScaleTime, observedGeneration = metadata.generation", json.dumps(st))
        e2e.check(st.get("recommendedReplicas") == 3 and st.get("totalLag") == 60 and
                  st.get("partitionCount") == 12 and isinstance(st.get("lagSeconds"),
                                                                (int, float)) and
                  st.get("reason"),
                  "recommendedReplicas 3, totalLag 60, partitionCount 12, lagSeconds and "
                  "reason are set", json.dumps(st))
        want = {"Ready": ("True", "Decided"), "Active": ("True", "LagAboveActivation"),
                "Fallback": ("False", "NoFallback"), "Paused": ("False", "NotPaused")}
        for ctype, (cs, reason) in want.items():
            c = cond(st, ctype)
            e2e.check(c.get("status") == cs and c.get("reason") == reason and
                      c.get("lastTransitionTime") and "message" in c and
                      c.get("observedGeneration") == st.get("observedGeneration"),
                      "condition %s is %s (%s) with a transition time and the generation"
                      % (ctype, cs, reason), json.dumps(c))
        table = k.kubectl("-n", ns, "get", "ls", "orders").stdout
        lines = table.strip().splitlines()
        cols = lines[0].split() if lines else []
        row = dict(zip(cols, lines[1].split())) if len(lines) > 1 else {}
        e2e.check(cols[:9] == ["NAME", "TARGET", "MIN", "MAX", "REPLICAS", "DESIRED", "LAG",
                               "LAG-AGE", "READY"] and row.get("TARGET") == "orders" and
                  row.get("MIN") == "1" and row.get("MAX") == "12" and
                  row.get("REPLICAS") == "3" and row.get("DESIRED") == "3" and
                  row.get("LAG") == "60" and row.get("READY") == "True",
                  "kubectl get ls prints TARGET, MIN, MAX, REPLICAS, DESIRED, LAG, LAG-AGE, "
                  "READY", table)

        # (c) lagThreshold 20 -> 10: 6 replicas, within a polling interval of the edit
        # (the decision is the next round's; the patch and the watch add milliseconds).
        gen = o["metadata"]["generation"] if o else 0
        t0 = time.time()
        k.apply(lagscaler("orders", "orders", g1, t1, 10), ns)
        six = k.wait_until(lambda: k.replicas(ns, "deployment", "orders") == 6, 30, step=0.1)
        took = time.time() - t0
        print("     edit applied after %.1f s (pollingInterval %d s)" % (took, POLL_S))
        e2e.check(six and took < POLL_S + 3,
                  "an edit (lagThreshold 20 -> 10) takes effect within a polling interval: "
                  "6 replicas", "replicas %s after %.1f s" % (
                      k.replicas(ns, "deployment", "orders"), took))
        st = k.wait_until(lambda: (lambda s: s.get("observedGeneration", 0) > gen and
                                   s.get("desiredReplicas") == 6 and s)(status(ns, "orders")),
                          30)
        e2e.check(st, "the status says the new generation and 6 replicas",
                  json.dumps(status(ns, "orders")))

        # (b) an unknown cluster: Ready False, lagscale's message, one Event.
        k.apply(lagscaler("bad", "orders", g1, t1, 10, cluster="nope"), ns)
        msg = 'spec.kafka.cluster: no cluster named "nope" in kafka.clusters'
        bad = k.wait_until(lambda: cond(status(ns, "bad"), "Ready").get("status") == "False",
                           30)
        c = cond(status(ns, "bad"), "Ready")
        e2e.check(bad and c.get("reason") == "InvalidSpec" and c.get("message") == msg,
                  "an unknown cluster gives Ready False, InvalidSpec, with lagscale's message",
                  json.dumps(c))
        ev = k.wait_until(lambda: ls_events(ns, "bad"), 30)
        e2e.check(ev and ev[0]["type"] == "Warning" and ev[0]["reason"] == "InvalidSpec" and
                  ev[0]["note"] == msg and ev[0]["regarding"].get("uid"),
                  "a Warning Event InvalidSpec regards the LagScaler (with its uid)", str(ev))
        via_field = k.kubectl("-n", ns, "get", "events", "--field-selector",
                              "involvedObject.name=bad", "-o", "json")
        e2e.check(json.loads(via_field.stdout)["items"],
                  "kubectl get events --field-selector involvedObject.name=bad finds it")

        # Errors only a run can find: a topicPattern matching nothing, and a
        # second owner of a workload.
        k.apply(lagscaler("nomatch", "nomatch", g1, t1, 10,
                          pattern="^no-topic-matches-%s$" % e2e.uid("x")), ns)
        nm = k.wait_until(lambda: cond(status(ns, "nomatch"), "Ready").get("status") == "False",
                          30)
        c = cond(status(ns, "nomatch"), "Ready")
        e2e.check(nm and c.get("reason") == "LagReadFailed" and
                  c.get("message", "").startswith("no topic matches topicPattern"),
                  "a topicPattern matching nothing gives Ready False with the read's error",
                  json.dumps(c))
        e2e.check(k.wait_until(lambda: [e for e in ls_events(ns, "nomatch")
                                        if e["reason"] == "LagReadFailed"], 30),
                  "... and a Warning Event on the LagScaler", str(ls_events(ns, "nomatch")))
        k.apply(lagscaler("dup", "orders", g1, t1, 10), ns)
        dup = k.wait_until(lambda: cond(status(ns, "dup"), "Ready").get("reason") ==
                           "TargetConflict", 30)
        c = cond(status(ns, "dup"), "Ready")
        e2e.check(dup and c.get("status") == "False" and
                  ('is already the target of scaler "%s/orders"' % ns) in c.get("message", ""),
                  "a second LagScaler of one Deployment: Ready False, TargetConflict, naming "
                  "the first", json.dumps(c))
        e2e.check(k.replicas(ns, "deployment", "orders") == 6,
                  "... and it does not touch the replicas")
        k.kubectl("-n", ns, "delete", "lagscaler", "dup", "nomatch")

        # (e) the idle scaler: nothing changes, so its status is written once.
        k.apply(lagscaler("idle", "idle", g2, t2, 10), ns)
        first = k.wait_until(lambda: (lambda o: o and (o.get("status") or {}).get(
            "currentReplicas") == 1 and o)(get_ls(ns, "idle")), 30)
        e2e.check(first and cond(first["status"], "Active").get("status") == "False" and
                  first["status"].get("totalLag") == 0,
                  "the idle LagScaler's status: 1 replica, lag 0, Active False",
                  json.dumps((first or {}).get("status")))
        rv = first["metadata"]["resourceVersion"] if first else ""
        idle = ns + "/idle"
        n0 = len(k.decisions(p.stdout(), idle))
        more = p.wait_for(lambda out: len(k.decisions(out, idle)) >= n0 + 4, 30)
        e2e.check(more, "the idle scaler decided 4 more rounds")
        e2e.check(get_ls(ns, "idle")["metadata"]["resourceVersion"] == rv,
                  "its status is not rewritten when nothing changes (resourceVersion stable "
                  "across the rounds)", json.dumps(get_ls(ns, "idle")))
        # Dry-run (--once) runs the LagScalers too, names them NAMESPACE/NAME, and
        # writes no status.
        d = e2e.lagscale("run", "--config", cfg, "--dry-run", "--once", "--output", "json",
                         env=env, timeout=120)
        names = {x.get("scaler") for x in e2e.json_lines(d.stdout)}
        e2e.check(idle in names and full in names,
                  "run --dry-run --output json names the object scalers NAMESPACE/NAME",
                  d.stdout[-800:] + d.stderr[-800:])
        e2e.check(get_ls(ns, "idle")["metadata"]["resourceVersion"] == rv,
                  "dry-run writes no status")
        # Nor is the bad one's Event repeated.
        ev = ls_events(ns, "bad")
        e2e.check(len(ev) == 1 and not (ev[0].get("series") or {}).get("count"),
                  "the Event of the bad LagScaler is not repeated every round", str(ev))

        # (d) delete: the Deployment stays as it is, whatever the lag does.
        k.kubectl("-n", ns, "delete", "lagscaler", "orders")
        n_orders = len(k.decisions(p.stdout(), full))
        n1 = len(k.decisions(p.stdout(), idle))
        for part in range(12):
            e2e.produce(t1, 10, part)   # lag 180: 12 replicas if it still ran
        more = p.wait_for(lambda out: len(k.decisions(out, idle)) >= n1 + 4, 30)
        e2e.check(more, "the other scalers go on deciding")
        e2e.check(len(k.decisions(p.stdout(), full)) <= n_orders + 1 and
                  k.replicas(ns, "deployment", "orders") == 6,
                  "a deleted LagScaler stops scaling: replicas stay 6 with lag 180",
                  "replicas %s" % k.replicas(ns, "deployment", "orders"))
        e2e.check(p.p.poll() is None, "lagscale is still running", p.stderr()[-800:])
    finally:
        p.stop()
        if e2e._failures:
            print(p.stderr()[-3000:])
    k.kubectl("delete", "-f", CRD, "--wait=false", check=False)

e2e.done()
