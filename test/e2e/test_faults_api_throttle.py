"""Fault matrix, API server: a storm of 429 Too Many Requests with Retry-After.

Every scale patch of one Deployment is answered 429 with Retry-After: 3
for STORM_S seconds (tools/faultproxy.py), while lagscale (pollingInterval
1s) wants to scale it up:
- Retry-After is honoured: no request to that path comes before the
  Retry-After of the 429 before it has passed (its retries, and the patches
  of later decisions alike);
- no retry storm: at most STORM_S / 3 + 1 patches during the storm;
- the other scaler's target is not throttled by it (its patch goes
  through at once), and once the storm ends the patch is applied.
"""
import time

import e2e
import test_faults_api_lib as f
import test_kube_lib as k

RETRY_AFTER_S, STORM_S = 3, 20.0

with k.Namespace("ls-fapi-429") as ns:
    k.create_deployment(ns, "web", 1)
    k.create_deployment(ns, "other", 1)
    topic, group = e2e.uid("fapi-429"), e2e.uid("fapi-429-g")
    topic2, group2 = e2e.uid("fapi-429b"), e2e.uid("fapi-429b-g")
    k.make_lag(topic, group, 12, 10, committed=10)
    k.make_lag(topic2, group2, 12, 10, committed=10)
    f.set_lag(topic, group, 4)
    proxy = f.api_proxy()
    path, other = f.scale_path(ns, "web"), f.scale_path(ns, "other")
    policy = ("{lagThreshold: 10, maxReplicas: 12, pollingInterval: 1s, partitionAware: false, "
              "behavior: {scaleUp: {policies: [{type: Pods, value: 12, period: 1s}]}}}")
    cfg = k.config([{"name": "web", "ns": ns, "target": "web", "group": group, "topic": topic,
                     "policy": policy},
                    {"name": "other", "ns": ns, "target": "other", "group": group2,
                     "topic": topic2, "policy": policy}],
                   kubeconfig_path=f.proxied_kubeconfig(proxy))
    p = f.start(cfg)
    try:
        ok = f.wait_until(lambda: k.replicas(ns, "deployment", "web") == 4, 30)
        e2e.check(ok, "web is scaled 1 -> 4 before the storm", p.stderr()[-1500:])

        proxy.rules([{"method": "PATCH", "path": "^%s$" % path, "status": 429,
                      "retryAfter": str(RETRY_AFTER_S)}])
        f.set_lag(topic, group, 8)
        first = f.wait_until(lambda: f.log_of(proxy, "PATCH", path, since=0) and
                             [e for e in f.log_of(proxy, "PATCH", path) if e[3] == 429], 20)
        e2e.check(first, "the patch 4 -> 8 is answered 429")
        t0 = first[0][0] if first else time.time()
        # Meanwhile another target is scaled: it is not held up.
        f.set_lag(topic2, group2, 6)
        ok = f.wait_until(lambda: k.replicas(ns, "deployment", "other") == 6, 10)
        e2e.check(ok, "another target is scaled during the storm (1 -> 6)")
        f.wait_until(lambda: time.time() - t0 >= STORM_S, STORM_S + 1, step=0.5)
        proxy.rules([])
        t_end = time.time()
        ok = f.wait_until(lambda: k.replicas(ns, "deployment", "web") == 8, 30)
        e2e.check(ok, "after the storm web is scaled 4 -> 8", p.stderr()[-1500:])

        log = f.log_of(proxy, "PATCH", path, since=t0)
        print("     patches of web from the first 429 on: %s" %
              [(round(e[0] - t0, 2), e[3]) for e in log])
        early = [(round(a[0] - t0, 2), round(b[0] - t0, 2)) for a, b in zip(log, log[1:])
                 if a[3] == 429 and b[0] - a[0] < RETRY_AFTER_S - 0.05]
        e2e.check(not early, "no patch comes before the Retry-After of the 429 before it",
                  "(429 at, next at): %s" % early)
        storm = [e for e in log if e[0] < t_end]
        e2e.check(len(storm) <= STORM_S / RETRY_AFTER_S + 1,
                  "no retry storm: %d patches in %.0f s of 429s" % (len(storm), STORM_S))
        e2e.check(any(e[3] == 200 for e in log), "the patch went through after the storm")
        e2e.check(len([e for e in f.log_of(proxy, "PATCH", other) if e[3] == 200]) == 1,
                  "the other target got exactly one patch")
    finally:
        p.stop()
        proxy.stop()
e2e.done()
