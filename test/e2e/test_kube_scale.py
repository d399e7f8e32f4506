"""lagscale run (not dry-run) scales real workloads on the real API server.

- a Deployment created with kubectl is scaled up from lag on the real
  broker, and the replicas read back with kubectl; an Event ScaledUp from
  lagscale.io/lagscale regards it, its note carrying the decision's reason;
- when the lag is consumed it is scaled down, not before the 10 s
  stabilization window, with an Event ScaledDown;
- a StatefulSet target, and a custom resource whose CRD has a scale
  subresource, are scaled the same way (discovery maps apiVersion + kind to
  the resource), by the same process;
- a scaler whose target does not exist reports an error for itself only;
- the process uses KUBECONFIG alone (no flag beyond --config).
"""
import datetime
import os
import time

import e2e
import test_kube_lib as k

GROUP = "%s.lagscale-e2e.example.com" % e2e.uid("g")
CRD = k.consumer_crd(GROUP)

k.apply(CRD)
with k.Namespace("ls-scale") as ns:
    k.kubectl("wait", "--for", "condition=established", "--timeout=60s",
              "crd/consumers.%s" % GROUP)
    k.apply("apiVersion: %s/v1alpha1\nkind: Consumer\nmetadata: {name: payments}\n"
            "spec: {replicas: 1}\n" % GROUP, ns)
    k.create_deployment(ns, "orders", 1)
    k.create_statefulset(ns, "ledger", 1)
    t1, g1 = e2e.uid("kscale-orders"), e2e.uid("kscale-orders-g")
    t2, g2 = e2e.uid("kscale-ledger"), e2e.uid("kscale-ledger-g")
    t3, g3 = e2e.uid("kscale-ghost"), e2e.uid("kscale-ghost-g")
    t4, g4 = e2e.uid("kscale-payments"), e2e.uid("kscale-payments-g")
    # 6 partitions x 10 messages, nothing consumed: lag 60 -> 6 replicas.
    k.make_lag(t1, g1, 6, 10)
    # 3 partitions x 10: lag 30 -> 3 replicas.
    k.make_lag(t2, g2, 3, 10)
    k.make_lag(t3, g3, 1, 10)
    # 4 partitions x 10: lag 40 -> 4 replicas of the custom resource.
    k.make_lag(t4, g4, 4, 10)
    cfg = k.config([
        {"name": "orders", "ns": ns, "target": "orders", "group": g1, "topic": t1},
        {"name": "ledger", "ns": ns, "kind": "StatefulSet", "target": "ledger", "group": g2,
         "topic": t2},
        {"name": "ghost", "ns": ns, "target": "no-such-deployment", "group": g3, "topic": t3},
        {"name": "payments", "ns": ns, "api_version": GROUP + "/v1alpha1", "kind": "Consumer",
         "target": "payments", "group": g4, "topic": t4},
    ])
    env = dict(os.environ, KUBECONFIG=k.ADMIN_KUBECONFIG)
    env.pop("KUBERNETES_SERVICE_HOST", None)
    p = e2e.Proc([e2e.LAGSCALE, "run", "--config", cfg, "--output", "json"], env=env)
    try:
        t0 = time.time()
        up = k.wait_until(lambda: k.replicas(ns, "deployment", "orders") == 6, 60)
        e2e.check(up, "the Deployment is scaled up to 6 from lag 60 (kubectl reads 6)",
                  "replicas %s" % k.replicas(ns, "deployment", "orders"))
        print("     scale-up seen after %.1f s" % (time.time() - t0))
        sts = k.wait_until(lambda: k.replicas(ns, "statefulset", "ledger") == 3, 60)
        e2e.check(sts, "the StatefulSet is scaled up to 3 from lag 30",
                  "replicas %s" % k.replicas(ns, "statefulset", "ledger"))
        cr = k.wait_until(lambda: k.replicas(ns, "consumer.%s" % GROUP, "payments") == 4, 60)
        e2e.check(cr, "the custom resource (CRD with a scale subresource) is scaled to 4",
                  "replicas %s\n%s" % (k.replicas(ns, "consumer.%s" % GROUP, "payments"),
                                       p.stderr()[-800:]))
        out = p.stdout()
        applied = [d for d in k.decisions(out, "orders") if d["applied"]]
        e2e.check(applied and applied[0]["desiredReplicas"] == 6 and
                  applied[0]["currentReplicas"] == 1 and applied[0]["action"] == "scale_up",
                  "the decision that scaled says scale_up 1 -> 6, applied true",
                  str(applied[:1]))
        # Events go out beside the rounds: wait for the one of orders (the
        # others' may come first).
        k.wait_until(lambda: [e for e in k.events(ns, "ScaledUp")
                              if e["regarding"]["name"] == "orders"], 60)
        ev = k.events(ns, "ScaledUp")
        orders_ev = [e for e in ev or [] if e["regarding"]["name"] == "orders"]
        e2e.check(orders_ev, "an Event ScaledUp regards the Deployment", str(ev))
        if orders_ev:
            e = orders_ev[0]
            e2e.check(e["regarding"]["kind"] == "Deployment" and
                      e["regarding"]["apiVersion"] == "apps/v1" and e["type"] == "Normal" and
                      e["reportingInstance"] and e.get("action") == "Scale",
                      "the Event names the Deployment, type Normal, action Scale and an instance",
                      str(e))
            e2e.check("1 -> 6" in e["note"] and "lag 60" in e["note"],
                      "the Event's note carries the decision's reason", e["note"])
            e2e.check(e["regarding"].get("uid") ==
                      k.kubectl_json("-n", ns, "get", "deployment", "orders")["metadata"]["uid"],
                      "the Event carries the Deployment's uid", str(e["regarding"]))
        ghost = [d for d in k.decisions(out, "ghost")]
        e2e.check(ghost and all(d["action"] == "error" and not d["applied"] for d in ghost) and
                  "not found" in ghost[0]["reason"],
                  "the scaler of a missing target reports an error (not found), for itself only",
                  str(ghost[:1]))
        e2e.check('cannot read "%s/Deployment/no-such-deployment": deployments.apps '
                  '"no-such-deployment" not found' % ns in p.stderr(),
                  "the missing target is logged once with the API's message",
                  p.stderr()[-800:])
        e2e.check(p.stderr().count("no-such-deployment\" not found") == 1,
                  "... and only once, not every round")

        # The lag is consumed: down to 1 after the 10 s window, not sooner,
        # and in the first round after it. Judged by the decisions' own
        # clock, so neither the commit's duration nor late rounds on a busy
        # machine move the figures.
        e2e.commit(g1, *[(t1, q, 10) for q in range(6)])
        t_commit = time.time()
        down = k.wait_until(lambda: k.replicas(ns, "deployment", "orders") == 1, 90)
        waited = time.time() - t_commit
        e2e.check(down, "scaled down to 1 once the lag is consumed",
                  "replicas %s" % k.replicas(ns, "deployment", "orders"))
        ds = k.decisions(p.stdout(), "orders")
        i_down = next((i for i, d in enumerate(ds)
                       if d["desiredReplicas"] == 1 and d["applied"]), None)
        i_last6 = max((i for i, d in enumerate(ds[:i_down or 0])
                       if d["recommendedReplicas"] == 6), default=None)
        if e2e.check(i_down is not None and i_last6 is not None,
                     "the decisions show the lag and the scale-down",
                     str([(d["recommendedReplicas"], d["desiredReplicas"]) for d in ds])):
            f = "%Y-%m-%dT%H:%M:%SZ"
            at = [datetime.datetime.strptime(d["time"], f) for d in ds]
            gap = (at[i_down] - at[i_last6]).total_seconds()
            late = [d for d, t in zip(ds[i_last6 + 1:i_down], at[i_last6 + 1:i_down])
                    if (t - at[i_last6]).total_seconds() >= 11]
            print("     scale-down %.0f s after the last round that wanted 6 (%.1f s after "
                  "the commit)" % (gap, waited))
            e2e.check(gap >= 9, "not before the 10 s stabilization window (%.0f s after the "
                      "last round that wanted 6; timestamps in whole seconds)" % gap)
            e2e.check(not late, "in the first round after the window",
                      str([(d["time"], d["desiredReplicas"]) for d in late]))
        ev = k.wait_until(lambda: [e for e in k.events(ns, "ScaledDown")
                                   if e["regarding"]["name"] == "orders"], 60)
        e2e.check(ev and "6 -> 1" in ev[0]["note"], "an Event ScaledDown 6 -> 1", str(ev))
        # The StatefulSet scaler is unaffected by the ghost's errors.
        e2e.check(k.replicas(ns, "statefulset", "ledger") == 3,
                  "the StatefulSet keeps its 3 replicas")
    finally:
        rc = p.stop()
    e2e.check(rc == 0, "lagscale exits 0 on SIGTERM", "rc %s\n%s" % (rc, p.stderr()[-2000:]))
    e2e.check("Kubernetes: kubeconfig \"%s\"" % k.ADMIN_KUBECONFIG in p.stderr(),
              "the start-up log names the kubeconfig taken from KUBECONFIG")
    e2e.check(os.environ.get("LAGSCALE_E2E_ADMIN_TOKEN", "x") not in p.stderr() + p.stdout(),
              "the token never appears in the output")
k.kubectl("delete", "crd", "consumers.%s" % GROUP, "--wait=false", check=False)
e2e.done()
