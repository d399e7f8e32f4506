"""Fault matrix, API server: the server stopped for 30 s while lagscale runs.

lagscale (leader election on: leaseDuration 4s, renewDeadline 3s,
retryPeriod 1s; pollingInterval 2s) reaches the API server through
tools/faultproxy.py. A scale patch is held at the proxy when the proxy
stops (connection refused, open connections reset), as a server that
goes down with a request on the wire:
- the leader steps down once it cannot renew (its log, lagscale_is_leader 0),
  and nothing is written while it cannot lead;
- no patch is lost or duplicated: after the server returns, the replicas
  are what the lag asks for, and the proxy saw exactly one successful
  patch per change (the held one never reached the server);
- recovery: the Lease is taken again within a retryPeriod, the watch is
  back within one pollingInterval (its backoff's cap), and the new count
  is set at once after both (a new leader decides at once, and so does a
  scaler whose decision failed on the stale watch when it is current
  again): within one pollingInterval (+ the retryPeriod and slack) of the
  server's return;
- Events are bounded: while it is down nothing queues them (the follower
  records none, and a refused connection fails the one in flight at
  once), and after it returns only the Events of what happened are sent
  (test_faults_api_events.py: a server that hangs instead);
- then the other way round, briefly (2.5 s, less than renewDeadline: it
  stays the leader): the server goes down, applying a patch before it
  does but not answering it, and its watches come back slowly (held 4 s
  at the proxy), so the watch's view, not stale yet, still shows 8.
  lagscale cannot know whether the patch was applied: it reads the
  replicas again before it decides on them, and does not send the patch
  a second time.
"""
import time

import e2e
import test_faults_api_lib as f
import test_kube_lib as k

OUTAGE_S, POLL_S, RETRY_S, RENEW_S = 30.0, 2.0, 1.0, 3.0
SLACK_S = 2.0

with k.Namespace("ls-fapi-out") as ns:
    k.create_deployment(ns, "web", 1)
    topic, group = e2e.uid("fapi-out"), e2e.uid("fapi-out-g")
    k.make_lag(topic, group, 12, 10, committed=10)
    f.set_lag(topic, group, 4)
    proxy = f.api_proxy()
    path = f.scale_path(ns, "web")
    policy = ("{lagThreshold: 10, maxReplicas: 12, pollingInterval: 2s, partitionAware: false, "
              "behavior: {scaleUp: {policies: [{type: Pods, value: 12, period: 1s}]}}}")
    cfg = k.config([{"name": "web", "ns": ns, "target": "web", "group": group, "topic": topic,
                     "policy": policy}], kubeconfig_path=f.proxied_kubeconfig(proxy),
                   leader="namespace: %s, leaseName: lagscale, leaseDuration: 4s, "
                          "renewDeadline: 3s, retryPeriod: 1s" % ns)
    p = f.start(cfg)
    try:
        ok = f.wait_until(lambda: k.replicas(ns, "deployment", "web") == 4, 30)
        e2e.check(ok, "through the proxy the leader scales 1 -> 4", p.stderr()[-1500:])
        e2e.check(f.metric(p, "lagscale_is_leader") == 1, "lagscale_is_leader is 1")

        # A patch on the wire when the server goes away: held at the proxy.
        proxy.rules([{"method": "PATCH", "path": "^%s$" % path, "latencyMs": 600000}])
        f.set_lag(topic, group, 8)
        held = f.wait_until(lambda: f.inflight(proxy, "PATCH", path) == 1, 20)
        e2e.check(held, "the patch 4 -> 8 is on its way (held at the proxy)")
        proxy.mode("stopped")
        t_stop = time.time()
        proxy.rules([])
        n_err = len(p.stderr())

        stepped = p.wait_for(lambda _o: "not leading any more" in p.stderr()[n_err:],
                             RENEW_S + RETRY_S + 10)
        t_step = time.time() - t_stop
        print("     stepped down %.2f s after the server stopped" % t_step)
        e2e.check(stepped, "the leader steps down when it cannot renew", p.stderr()[-1500:])
        e2e.check(t_step <= RENEW_S + RETRY_S + SLACK_S,
                  "... within renewDeadline + retryPeriod (%.2f s)" % t_step)
        e2e.check(f.wait_until(lambda: f.metric(p, "lagscale_is_leader") == 0, 5),
                  "lagscale_is_leader is 0 while it cannot renew")
        e2e.check(k.replicas(ns, "deployment", "web") == 4,
                  "the held patch never reached the server (replicas still 4)")

        # The rest of the outage: lagscale keeps deciding, writes nothing.
        n_dec = len(k.decisions(p.stdout()))
        f.wait_until(lambda: time.time() - t_stop >= OUTAGE_S, OUTAGE_S + 1, step=0.5)
        e2e.check(p.p.poll() is None, "lagscale keeps running through the outage")
        during = k.decisions(p.stdout())[n_dec:]
        e2e.check(not any(d["applied"] for d in during),
                  "nothing is applied while the server is down", str(during[-2:]))
        e2e.check(k.replicas(ns, "deployment", "web") == 4, "replicas are still 4")

        proxy.mode("pass")
        t_back = time.time()
        ok = f.wait_until(lambda: k.replicas(ns, "deployment", "web") == 8, 60)
        recovery = time.time() - t_back
        print("     replicas set %.2f s after the server returned" % recovery)
        e2e.check(ok, "after the server returns the leader scales 4 -> 8", p.stderr()[-1500:])
        e2e.check(recovery <= RETRY_S + POLL_S + SLACK_S,
                  "... within retryPeriod + 1 pollingInterval (%.2f s)" % recovery)
        e2e.check(f.wait_until(lambda: f.metric(p, "lagscale_is_leader") == 1, 10),
                  "lagscale_is_leader is 1 again")

        # Settle, then count: one good patch per change, none duplicated.
        nd = len(k.decisions(p.stdout()))
        p.wait_for(lambda out: len(k.decisions(out)) >= nd + 2, 20)
        patches = f.log_of(proxy, "PATCH", path)
        good = [e for e in patches if e[3] == 200]
        print("     patches at the proxy: %s" % [(round(e[0] - t_stop, 1), e[3]) for e in patches])
        e2e.check(len(good) == 2, "exactly two patches reached the server (1 -> 4, 4 -> 8)",
                  str(patches))
        e2e.check(not [e for e in patches if t_stop <= e[0] < t_back],
                  "none was answered while the server was down")
        e2e.check(k.replicas(ns, "deployment", "web") == 8, "the final replicas are 8")

        # Events: only those of what happened, once the server is back.
        evreq = [e for e in proxy.requests()["log"] if "/events" in e[2] and e[0] >= t_back]
        print("     Event requests after the return: %d" % len(evreq))
        e2e.check(len(evreq) <= 3, "no backlog of Events is sent after the return",
                  str(evreq))
        e2e.check(k.events(ns, "ScaledUp"), "the ScaledUp Event is recorded")

        # --- the patch applied, its answer lost, the server down 2.5 s,
        # the watch held 4 s after that.
        coll = "^/apis/apps/v1/namespaces/%s/deployments$" % ns
        proxy.rules([{"method": "PATCH", "path": "^%s$" % path, "dropResponse": True,
                      "thenMode": "stopped", "count": 1},
                     {"method": "GET", "path": coll, "latencyMs": 4000}])
        t_before = time.time()
        f.set_lag(topic, group, 10)
        ok = f.wait_until(lambda: [e for e in f.log_of(proxy, "PATCH", path, since=t_before)
                                   if e[3] == 200], 20, step=0.02)
        t_stop2 = time.time()
        ok = ok and proxy.state()["mode"] == "stopped"
        e2e.check(ok and k.replicas(ns, "deployment", "web") == 10,
                  "the patch 8 -> 10 is applied and the server stops before answering")
        f.wait_until(lambda: time.time() - t_stop2 >= 2.5, 3, step=0.1)
        proxy.mode("pass")
        ok = p.wait_for(lambda out: any(d["currentReplicas"] == 10
                                        for d in k.decisions(out)), 20)
        e2e.check(ok, "it reads the replicas the lost patch set (10)", p.stderr()[-1500:])
        nd = len(k.decisions(p.stdout()))
        p.wait_for(lambda out: len(k.decisions(out)) >= nd + 2, 10)
        proxy.rules([])
        again = f.log_of(proxy, "PATCH", path, since=t_stop2)
        print("     patches after the lost answer: %s" %
              [(round(e[0] - t_stop2, 2), e[3]) for e in again])
        e2e.check(not [e for e in again if e[3] == 200],
                  "the lost patch is not sent again", str(again))
        e2e.check(k.replicas(ns, "deployment", "web") == 10, "the replicas stay 10")
        e2e.check(f.metric(p, "lagscale_is_leader") == 1, "it is still the leader")
    finally:
        p.stop()
        proxy.stop()
e2e.done()
