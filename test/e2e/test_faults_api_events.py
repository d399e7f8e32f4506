"""Fault matrix, API server: Events do not pile up while the server hangs.

lagscale (pollingInterval 1s, no leader election) wants to scale "web",
but every patch is refused (403, answered by tools/faultproxy.py), so
each round records a ScaleFailed Event; meanwhile the server never
answers Event requests (held at the proxy longer than lagscale's 15 s
request budget). Events of one target are sent one at a time, so without
a bound one per round would wait in memory and all be sent once the
server answers. With the bound (lib/kube/async.h,
LS_KUBE_ASYNC_EVENTS_WAITING_MAX = 8): at most 8 wait behind the one on
its way, the oldest are dropped (logged once), and when the server
answers again no more than those few are sent.
"""
import time

import e2e
import test_faults_api_lib as f
import test_kube_lib as k

HANG_S, WAITING_MAX = 25.0, 8

with k.Namespace("ls-fapi-ev") as ns:
    k.create_deployment(ns, "web", 1)
    topic, group = e2e.uid("fapi-ev"), e2e.uid("fapi-ev-g")
    k.make_lag(topic, group, 12, 10, committed=10)
    f.set_lag(topic, group, 1)
    proxy = f.api_proxy()
    path = f.scale_path(ns, "web")
    events = "^/apis/events.k8s.io/v1/namespaces/%s/events" % ns
    policy = ("{lagThreshold: 10, maxReplicas: 12, pollingInterval: 1s, partitionAware: false}")
    cfg = k.config([{"name": "web", "ns": ns, "target": "web", "group": group, "topic": topic,
                     "policy": policy}], kubeconfig_path=f.proxied_kubeconfig(proxy))
    p = f.start(cfg)
    try:
        ok = p.wait_for(lambda out: len(k.decisions(out)) >= 2, 30)
        e2e.check(ok, "lagscale decides", p.stderr()[-1500:])
        proxy.rules([{"path": events, "latencyMs": 600000},
                     {"method": "PATCH", "path": "^%s$" % path, "status": 403}])
        t0 = time.time()
        f.set_lag(topic, group, 5)
        f.wait_until(lambda: time.time() - t0 >= HANG_S, HANG_S + 1, step=0.5)
        refused = [e for e in f.log_of(proxy, "PATCH", path, since=t0) if e[3] == 403]
        print("     %d patches refused in %.0f s (one ScaleFailed Event each)" %
              (len(refused), HANG_S))
        e2e.check(len(refused) >= 2 * WAITING_MAX,
                  "lagscale tried to record more Events than the bound (%d)" % len(refused))
        e2e.check("dropped: %d events of the target were waiting" % WAITING_MAX in p.stderr(),
                  "Events beyond the bound are dropped, and that is logged",
                  p.stderr()[-1500:])
        n_logged = p.stderr().count("were waiting")
        print("     the drop was logged %d time(s)" % n_logged)
        e2e.check(n_logged <= 3, "... not once per dropped Event")
        proxy.rules([])
        t1 = time.time()
        ok = f.wait_until(lambda: k.replicas(ns, "deployment", "web") == 5, 20)
        e2e.check(ok, "once the server answers, web is scaled 1 -> 5")
        f.wait_until(lambda: False, 5)  # what was queued is sent at once: give it time
        sent = [e for e in proxy.requests()["log"] if "/events" in e[2] and e[0] >= t1]
        print("     Event requests once the server answers: %d" % len(sent))
        # The bound, plus the one on its way, plus ScaledUp and one
        # ScaleFailed that may have been queued as the rules changed.
        e2e.check(len(sent) <= 1 + WAITING_MAX + 2,
                  "no more than the bounded backlog is sent (%d)" % len(sent))
    finally:
        p.stop()
        proxy.stop()
e2e.done()
