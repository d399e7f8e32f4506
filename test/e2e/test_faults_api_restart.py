"""Fault matrix, API server side: SIGKILL of lagscale right after a
scale-up, then a restart.

lagscale (pollingInterval 1s, scale-down stabilizationWindow 20s) scales
"web" 1 -> 6 through tools/faultproxy.py and is killed (SIGKILL) as soon
as the proxy has answered the patch. The lag then drops to what 2
replicas carry, and lagscale starts again. Its history is seeded from the
workload at start (lib/policy: the first decision records the current
replicas as a recommendation), so, as DESIGN.md promises, the restart
causes no scale-down before a stabilization window has passed: no patch
reaches the server until WINDOW_S after the restart, and then the
scale-down comes (the window ends, it does not hold for ever).
"""
import signal
import time

import e2e
import test_faults_api_lib as f
import test_kube_lib as k

WINDOW_S = 20.0

with k.Namespace("ls-fapi-kill") as ns:
    k.create_deployment(ns, "web", 1)
    topic, group = e2e.uid("fapi-kill"), e2e.uid("fapi-kill-g")
    k.make_lag(topic, group, 12, 10, committed=10)
    proxy = f.api_proxy()
    path = f.scale_path(ns, "web")
    policy = ("{lagThreshold: 10, maxReplicas: 12, pollingInterval: 1s, partitionAware: false, "
              "behavior: {scaleUp: {policies: [{type: Pods, value: 12, period: 1s}]}, "
              "scaleDown: {stabilizationWindow: %ds, policies: [{type: Percent, value: 100, "
              "period: 1s}]}}}" % WINDOW_S)
    cfg = k.config([{"name": "web", "ns": ns, "target": "web", "group": group, "topic": topic,
                     "policy": policy}], kubeconfig_path=f.proxied_kubeconfig(proxy))
    f.set_lag(topic, group, 1)
    p = f.start(cfg)
    q = None
    try:
        ok = p.wait_for(lambda out: len(k.decisions(out)) >= 2, 30)
        e2e.check(ok and k.replicas(ns, "deployment", "web") == 1, "web runs 1 replica")
        t0 = time.time()
        f.set_lag(topic, group, 6)
        ok = f.wait_until(lambda: [e for e in f.log_of(proxy, "PATCH", path, since=t0)
                                   if e[3] == 200], 30, step=0.02)
        p.stop(signal.SIGKILL)
        e2e.check(ok and k.replicas(ns, "deployment", "web") == 6,
                  "the scale-up 1 -> 6 is applied; lagscale is killed at once")

        f.set_lag(topic, group, 2)
        t_start = time.time()
        q = f.start(cfg)
        ok = f.wait_until(lambda: k.replicas(ns, "deployment", "web") == 2,
                          WINDOW_S + 30, step=0.2)
        e2e.check(ok, "after the restart web is scaled down 6 -> 2 in the end",
                  q.stderr()[-1500:])
        patches = f.log_of(proxy, "PATCH", path, since=t_start)
        first = patches[0][0] - t_start if patches else None
        print("     first patch %s s after the restart" %
              (round(first, 1) if first is not None else None))
        e2e.check(first is not None and first >= WINDOW_S,
                  "no scale-down before the stabilization window has passed since the restart")
        e2e.check(first is not None and first <= WINDOW_S + 10,
                  "... and the window ends: the scale-down comes after it")
        held = [d for d in k.decisions(q.stdout()) if d["desiredReplicas"] == 6]
        e2e.check(held and all(d["recommendedReplicas"] == 2 and d["action"] == "none"
                               for d in held),
                  "meanwhile it recommends 2 and holds 6 (stabilized)", str(held[:1]))
        e2e.check(len([e for e in patches if e[3] == 200]) == 1,
                  "one patch after the restart", str(patches))
    finally:
        p.stop()
        if q:
            q.stop()
        proxy.stop()
e2e.done()
