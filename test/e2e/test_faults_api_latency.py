"""Fault matrix, API server: slow responses.

Two scalers (pollingInterval 1s), targets "slow" and "fast", reach the API
server through tools/faultproxy.py:
- every response 2 s slow (1 s each way): both targets are still scaled,
  each patch taking about 2 s, and decisions keep coming;
- one target's requests held 20 s (longer than lagscale's 15 s request
  budget), the other's not: the other scaler keeps its cadence (it
  decides and scales while the slow patch is on its way), and the slow
  patch gives up within the request budget (the round is bounded by the
  request timeouts); once the target answers again it is scaled (after
  the read of /scale that followed the failed patch, held too, gives up).
"""
import time

import e2e
import test_faults_api_lib as f
import test_kube_lib as k

BUDGET_S = 15.0  # LS_KUBE_TIMEOUT_MS
SLACK_S = 3.0

with k.Namespace("ls-fapi-lat") as ns:
    k.create_deployment(ns, "slow", 1)
    k.create_deployment(ns, "fast", 1)
    ts, gs = e2e.uid("fapi-lat-s"), e2e.uid("fapi-lat-s-g")
    tf, gf = e2e.uid("fapi-lat-f"), e2e.uid("fapi-lat-f-g")
    k.make_lag(ts, gs, 12, 10, committed=10)
    k.make_lag(tf, gf, 12, 10, committed=10)
    proxy = f.api_proxy()
    spath, fpath = f.scale_path(ns, "slow"), f.scale_path(ns, "fast")
    policy = ("{lagThreshold: 10, maxReplicas: 12, pollingInterval: 1s, partitionAware: false, "
              "behavior: {scaleUp: {policies: [{type: Pods, value: 12, period: 1s}]}}}")
    cfg = k.config([{"name": "slow", "ns": ns, "target": "slow", "group": gs, "topic": ts,
                     "policy": policy},
                    {"name": "fast", "ns": ns, "target": "fast", "group": gf, "topic": tf,
                     "policy": policy}],
                   kubeconfig_path=f.proxied_kubeconfig(proxy))
    p = f.start(cfg)
    try:
        ok = f.wait_until(lambda: len(k.decisions(p.stdout(), "fast")) >= 2 and
                          len(k.decisions(p.stdout(), "slow")) >= 2, 30)
        e2e.check(ok, "both scalers decide", p.stderr()[-1500:])

        # --- every response 2 s slow.
        proxy.mode("latency", latency_ms=1000)
        t0 = time.time()
        f.set_lag(ts, gs, 3)
        f.set_lag(tf, gf, 3)
        ok = f.wait_until(lambda: k.replicas(ns, "deployment", "slow") == 3 and
                          k.replicas(ns, "deployment", "fast") == 3, 30)
        took = time.time() - t0
        print("     with 2 s responses both were scaled in %.1f s" % took)
        e2e.check(ok, "with every response 2 s slow both targets are scaled 1 -> 3",
                  p.stderr()[-1500:])
        pl = [e for e in f.log_of(proxy, "PATCH", since=t0) if e[2] in (spath, fpath)]
        e2e.check(len(pl) == 2 and all(e[3] == 200 for e in pl),
                  "... with one patch each", str(pl))
        n = len(k.decisions(p.stdout(), "fast"))
        ok = p.wait_for(lambda out: len(k.decisions(out, "fast")) >= n + 3, 15)
        e2e.check(ok, "... and decisions keep coming")
        proxy.mode("pass")

        # --- one target held past the request budget, the other not.
        proxy.rules([{"path": "^/apis/apps/v1/namespaces/%s/deployments/slow" % ns,
                      "latencyMs": 20000}])
        t1 = time.time()
        f.set_lag(ts, gs, 6)
        held = f.wait_until(lambda: f.inflight(proxy, "PATCH", spath) == 1, 20)
        e2e.check(held, "the patch of slow (3 -> 6) is held at the proxy")
        t_held = time.time()
        nf = len(k.decisions(p.stdout(), "fast"))
        f.set_lag(tf, gf, 6)
        ok = f.wait_until(lambda: k.replicas(ns, "deployment", "fast") == 6, 10)
        e2e.check(ok, "meanwhile fast is scaled 3 -> 6")
        ok = p.wait_for(lambda out: len(k.decisions(out, "fast")) >= nf + 5, 10)
        still = f.inflight(proxy, "PATCH", spath) == 1
        e2e.check(ok and still, "fast decides 5 times while the patch of slow is on its way",
                  "decisions: %d, held: %s" % (len(k.decisions(p.stdout(), "fast")) - nf, still))
        gave_up = f.wait_until(lambda: "cannot set the replicas of \"%s/Deployment/slow\"" % ns
                               in p.stderr(), BUDGET_S + 10)
        waited = time.time() - t_held
        print("     the slow patch gave up %.1f s after it was held" % waited)
        e2e.check(gave_up and waited <= BUDGET_S + SLACK_S,
                  "the slow patch gives up within the request budget (%.1f s)" % waited,
                  p.stderr()[-1500:])
        e2e.check(k.replicas(ns, "deployment", "slow") == 3,
                  "the patch the client gave up on never reached the server")
        # The patch given up on may or may not have been applied, so
        # lagscale reads /scale again at once, before this test clears the
        # rule: that read is held too, and given up on within the budget;
        # the decision after it scales.
        proxy.rules([])
        if f.inflight(proxy, "GET", spath):
            print("     the read of slow's /scale sent before the rule was cleared is held")
        ok = f.wait_until(lambda: k.replicas(ns, "deployment", "slow") == 6,
                          BUDGET_S + SLACK_S + 15)
        e2e.check(ok, "once slow answers again it is scaled 3 -> 6")
    finally:
        p.stop()
        proxy.stop()
e2e.done()
