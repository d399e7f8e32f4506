"""Fault matrix, API server: bursts and storms of 500 and 503.

One scaler (pollingInterval 1s, no scale-down stabilization, so a wrong
read would show at once), target "web" at the 6 replicas its lag asks for;
a person changes the replicas directly (not through the proxy), so
lagscale reads /scale again through tools/faultproxy.py:
- a burst (500, 500, then 503 with Retry-After: 1) on that read: retried
  with backoff (growing gaps, the Retry-After honoured) within one
  request, and the decision that follows uses the count read (7 -> 6);
  a burst of two 500s on the patch: retried, applied once;
- a storm of 500s on every read of the target: decisions go on (as
  errors), nothing is patched, in particular no scale-down from the failed
  reads (the person's 9 replicas stay); when the server recovers, the
  read succeeds and the policy decides again (9 -> 6).
"""
import time

import e2e
import test_faults_api_lib as f
import test_kube_lib as k

STORM_S = 10.0

with k.Namespace("ls-fapi-5xx") as ns:
    k.create_deployment(ns, "web", 1)
    topic, group = e2e.uid("fapi-5xx"), e2e.uid("fapi-5xx-g")
    k.make_lag(topic, group, 12, 10, committed=10)
    f.set_lag(topic, group, 6)
    proxy = f.api_proxy()
    path = f.scale_path(ns, "web")
    policy = ("{lagThreshold: 10, maxReplicas: 12, pollingInterval: 1s, partitionAware: false, "
              "behavior: {scaleUp: {policies: [{type: Pods, value: 12, period: 1s}]}, "
              "scaleDown: {stabilizationWindow: 0s, policies: [{type: Percent, value: 100, "
              "period: 1s}]}}}")
    cfg = k.config([{"name": "web", "ns": ns, "target": "web", "group": group, "topic": topic,
                     "policy": policy}], kubeconfig_path=f.proxied_kubeconfig(proxy))
    p = f.start(cfg)
    try:
        ok = f.wait_until(lambda: k.replicas(ns, "deployment", "web") == 6, 30)
        e2e.check(ok, "web is scaled 1 -> 6", p.stderr()[-1500:])

        # --- a burst on the read and on the patch: retried, then fine.
        proxy.rules([{"method": "GET", "path": "^%s$" % path, "status": 500, "count": 2},
                     {"method": "GET", "path": "^%s$" % path, "status": 503,
                      "retryAfter": "1", "count": 1},
                     {"method": "PATCH", "path": "^%s$" % path, "status": 500, "count": 2}])
        t0 = time.time()
        k.kubectl("-n", ns, "scale", "deployment", "web", "--replicas=7")
        ok = f.wait_until(lambda: [e for e in f.log_of(proxy, "PATCH", path, since=t0)
                                   if e[3] == 200], 30)
        e2e.check(ok, "after the bursts the patch goes through", p.stderr()[-1500:])
        e2e.check(k.replicas(ns, "deployment", "web") == 6, "the person's 7 is scaled back to 6")
        # (A read may follow lagscale's own patch, when the controller-manager
        # changed the Deployment before the watch showed the patch: not counted.)
        gets = f.log_of(proxy, "GET", path, since=t0)[:4]
        print("     reads: %s" % [(round(e[0] - t0, 2), e[3]) for e in gets])
        e2e.check([e[3] for e in gets] == [500, 500, 503, 200],
                  "the read is retried through the burst (500, 500, 503, then 200)",
                  str([e[3] for e in gets]))
        gaps = [b[0] - a[0] for a, b in zip(gets, gets[1:])]
        e2e.check(len(gaps) == 3 and gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.95,
                  "... with backoff, and the 503's Retry-After honoured (gaps %s)" %
                  [round(g, 2) for g in gaps])
        patches = f.log_of(proxy, "PATCH", path, since=t0)
        e2e.check([e[3] for e in patches] == [500, 500, 200],
                  "the patch is retried through its burst and applied once",
                  str([e[3] for e in patches]))
        ds = [d for d in k.decisions(p.stdout()) if d["desiredReplicas"] == 6 and
              d["currentReplicas"] == 7]
        e2e.check(ds and ds[0]["applied"] and ds[0]["action"] == "scale_down",
                  "the decision after the burst used the count read (7 -> 6)", str(ds[:1]))

        # --- a storm on every read: decisions go on, nothing is patched.
        proxy.rules([{"method": "GET", "path": "^%s$" % path, "status": 500}])
        t1 = time.time()
        n = len(k.decisions(p.stdout()))
        k.kubectl("-n", ns, "scale", "deployment", "web", "--replicas=9")
        f.wait_until(lambda: time.time() - t1 >= STORM_S, STORM_S + 1, step=0.5)
        during = k.decisions(p.stdout())[n:]
        reads = f.log_of(proxy, "GET", path, since=t1)
        print("     %d decisions, %d reads in %.0f s of 500s" % (len(during), len(reads),
                                                                 STORM_S))
        e2e.check(len(during) >= STORM_S / 5 and all(d["action"] == "error" for d in during),
                  "decisions go on during the storm, as errors",
                  str([d["action"] for d in during]))
        e2e.check(not f.log_of(proxy, "PATCH", path, since=t1),
                  "nothing is patched while the target cannot be read")
        e2e.check(k.replicas(ns, "deployment", "web") == 9,
                  "no scale-down from a failed read (the person's 9 stay)")
        e2e.check(len(reads) <= STORM_S * 4,
                  "reads are bounded during the storm (%d)" % len(reads))
        proxy.rules([])
        ok = f.wait_until(lambda: k.replicas(ns, "deployment", "web") == 6, 15)
        e2e.check(ok, "once reads work again the policy decides (9 -> 6)")
    finally:
        p.stop()
        proxy.stop()
e2e.done()
