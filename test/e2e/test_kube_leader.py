"""Leader election between lagscale processes on a real Lease.

leaseDuration 4s, renewDeadline 3s, retryPeriod 1s; pollingInterval 1s.
- two processes: one holds the Lease and is the only one that writes
  (scale and Events, reportingInstance = its POD_NAME) and prints
  decisions; the other keeps deciding but prints none (one voice; its
  metrics: test_ha_metrics.py);
- SIGKILL of the leader: the follower takes over within leaseDuration +
  retryPeriod (and not before the lease ran out), then scales;
- SIGTERM of the leader: the Lease is released and the follower takes over
  at once (about one retryPeriod);
- a leader frozen (SIGSTOP) past its lease loses it to a follower and, on
  waking, stops acting at once (it cannot have renewed within renewDeadline);
- renewals run on a thread of their own: while a Kafka round hangs for 10 s
  on an unreachable broker, the Lease is still renewed every retryPeriod.
"""
import os
import re
import signal
import time
import urllib.request

import e2e
import test_kube_lib as k

LEASE_S, RETRY_S = 4.0, 1.0
SLACK_S = 1.0  # kubectl polling and process start-up


def identity(proc):
    m = proc.wait_for(lambda _o: re.search(r'identity \\?"([^"\\]+)', proc.stderr()), 10)
    return m.group(1) if m else None


def start(cfg, pod):
    env = dict(os.environ, POD_NAME=pod)
    return e2e.Proc([e2e.LAGSCALE, "run", "--config", cfg, "--output", "json"], env=env)


def set_lag(topic, group, lag_partitions, partitions=12):
    """Every partition holds 10 messages; lag 10 on the first lag_partitions."""
    e2e.commit(group, *[(topic, q, 0 if q < lag_partitions else 10)
                        for q in range(partitions)])


def metric_leader(proc):
    """lagscale_is_leader from the process's /metrics, or None."""
    m = re.search(r"\(port (\d+)\)", proc.stderr())
    if not m:
        return None
    try:
        with urllib.request.urlopen("http://127.0.0.1:%s/metrics" % m.group(1), timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    m = re.search(r"^lagscale_is_leader (\S+)$", text, re.M)
    return int(float(m.group(1))) if m else None


def wait_holder(ns, ident, timeout):
    return k.wait_until(lambda: k.lease_holder(ns, "lagscale") == ident, timeout, step=0.1)


with k.Namespace("ls-leader") as ns:
    k.create_deployment(ns, "web", 1)
    topic, group = e2e.uid("kleader"), e2e.uid("kleader-g")
    k.make_lag(topic, group, 12, 10, committed=10)
    set_lag(topic, group, 4)
    # Replica counts by the lag alone (6, 8, 9 on 12 partitions): this test
    # is about who acts, not about which counts the partitions can use.
    policy = ("{lagThreshold: 10, maxReplicas: 12, pollingInterval: 1s, partitionAware: false, "
              "behavior: "
              "{scaleUp: {policies: [{type: Pods, value: 12, period: 1s}]}}}")
    cfg = k.config([{"name": "web", "ns": ns, "target": "web", "group": group, "topic": topic,
                     "policy": policy}], kubeconfig_path=k.ADMIN_KUBECONFIG,
                   leader="namespace: %s, leaseName: lagscale, leaseDuration: 4s, "
                          "renewDeadline: 3s, retryPeriod: 1s" % ns)
    procs = []
    try:
        a = start(cfg, "pod-a")
        procs.append(a)
        ida = identity(a)
        e2e.check(ida and wait_holder(ns, ida, 10), "the first process holds the Lease",
                  a.stderr()[-1000:])
        b = start(cfg, "pod-b")
        procs.append(b)
        idb = identity(b)
        ok = k.wait_until(lambda: k.replicas(ns, "deployment", "web") == 4, 15)
        e2e.check(ok, "the leader scales 1 -> 4", a.stderr()[-1000:])
        n0 = len(k.decisions(a.stdout()))
        a.wait_for(lambda out: len(k.decisions(out)) >= n0 + 3, 10)
        da, db = k.decisions(a.stdout()), k.decisions(b.stdout())
        e2e.check(any(d["applied"] for d in da), "the leader's output has applied true")
        e2e.check(not db, "the follower prints no decision (one voice)", str(db[-2:]))
        e2e.check('is held by "%s"' % ida in b.stderr(), "the follower logs who leads",
                  b.stderr()[-800:])
        e2e.check(metric_leader(a) == 1 and metric_leader(b) == 0,
                  "lagscale_is_leader is 1 on the leader, 0 on the follower",
                  "%s %s" % (metric_leader(a), metric_leader(b)))
        evs = k.events(ns)
        e2e.check(evs and all(e["reportingInstance"] == "pod-a" for e in evs),
                  "every Event comes from the leader (reportingInstance pod-a)",
                  str([e["reportingInstance"] for e in evs]))

        # --- SIGKILL: the follower waits out the lease, then takes over.
        a.stop(signal.SIGKILL)
        t_kill = time.time()
        took = wait_holder(ns, idb, LEASE_S + RETRY_S + SLACK_S + 5)
        handover = time.time() - t_kill
        print("     SIGKILL handover: %.2f s" % handover)
        e2e.check(took, "after SIGKILL of the leader the follower takes the Lease")
        e2e.check(handover <= LEASE_S + RETRY_S + SLACK_S,
                  "... within leaseDuration + retryPeriod (%.2f s)" % handover)
        e2e.check(handover >= LEASE_S - RETRY_S - 0.5,
                  "... and not before the lease could have run out (%.2f s)" % handover)
        set_lag(topic, group, 6)
        ok = k.wait_until(lambda: k.replicas(ns, "deployment", "web") == 6, 15)
        e2e.check(ok, "the new leader scales 4 -> 6")
        e2e.check(any(d["applied"] and d["desiredReplicas"] == 6
                      for d in k.decisions(b.stdout())), "... its output says applied true")
        e2e.check(any(e["reportingInstance"] == "pod-b" for e in k.events(ns)),
                  "... and its Events name pod-b")

        # --- SIGTERM: released, handed over at once.
        c = start(cfg, "pod-c")
        procs.append(c)
        idc = identity(c)
        k.wait_until(lambda: 'is held by "%s"' % idb in c.stderr(), 10)
        e2e.check(k.lease_holder(ns, "lagscale") == idb, "a new follower does not take over")
        rc = b.stop(signal.SIGTERM)
        t_term = time.time()
        took = wait_holder(ns, idc, 10)
        handover = time.time() - t_term
        print("     SIGTERM handover: %.2f s" % handover)
        e2e.check(rc == 0 and "released lease" in b.stderr(),
                  "the leader releases the Lease on SIGTERM", b.stderr()[-500:])
        e2e.check(took and handover <= RETRY_S * 1.2 + SLACK_S,
                  "after SIGTERM the follower takes over at once (%.2f s)" % handover)
        set_lag(topic, group, 8)
        ok = k.wait_until(lambda: k.replicas(ns, "deployment", "web") == 8, 15)
        e2e.check(ok, "the third leader scales 6 -> 8")

        # --- a frozen leader loses the Lease and, awake, does not act.
        d = start(cfg, "pod-d")
        procs.append(d)
        idd = identity(d)
        k.wait_until(lambda: 'is held by "%s"' % idc in d.stderr(), 10)
        os.kill(c.p.pid, signal.SIGSTOP)
        took = wait_holder(ns, idd, LEASE_S + RETRY_S + SLACK_S + 5)
        e2e.check(took, "a leader frozen past its lease loses it to a follower")
        set_lag(topic, group, 9)
        n_before = len(k.decisions(c.stdout()))
        os.kill(c.p.pid, signal.SIGCONT)
        ok = k.wait_until(lambda: k.replicas(ns, "deployment", "web") == 9, 15)
        e2e.check(ok, "the new leader scales 8 -> 9")
        nd = len(k.decisions(d.stdout()))
        d.wait_for(lambda out: len(k.decisions(out)) >= nd + 3, 10)
        woke = k.decisions(c.stdout())[n_before:]
        e2e.check(not woke, "the old leader, awake, applies and prints nothing", str(woke[:2]))
        e2e.check("not leading any more" in c.stderr(), "... and says it stopped leading",
                  c.stderr()[-800:])
        e2e.check(k.lease_holder(ns, "lagscale") == idd, "the Lease stays with the new leader")
    finally:
        for p in procs:
            p.stop()

    # --- a slow Kafka round does not delay renewals ------------------------------------
    slow = k.config([{"name": "slow", "ns": ns, "target": "web", "group": group,
                      "topic": topic, "policy": "{lagThreshold: 10, pollingInterval: 10s}"}],
                    kubeconfig_path=k.ADMIN_KUBECONFIG,
                    leader="namespace: %s, leaseName: slow, leaseDuration: 4s, "
                           "renewDeadline: 3s, retryPeriod: 1s" % ns)
    with open(slow) as f:
        text = f.read().replace(e2e.KAFKA, "127.0.0.1:1")
    with open(slow, "w") as f:
        f.write(text)
    s = start(slow, "pod-slow")
    try:
        ids = identity(s)
        e2e.check(ids and k.wait_until(lambda: k.lease_holder(ns, "slow") == ids, 10),
                  "the slow instance holds its Lease")
        renewals, held, t0 = set(), True, time.time()
        while time.time() - t0 < 8:
            l = k.lease(ns, "slow") or {}
            renewals.add(l.get("spec", {}).get("renewTime"))
            held = held and l.get("spec", {}).get("holderIdentity") == ids
            time.sleep(0.3)
        rounds = len(k.decisions(s.stdout()))
        print("     %d renewals seen in 8 s, %d rounds finished" % (len(renewals), rounds))
        e2e.check(rounds <= 2, "the Kafka rounds hang (%d finished in 8 s)" % rounds)
        e2e.check(held and len(renewals) >= 5,
                  "meanwhile the Lease is renewed every retryPeriod and stays held")
    finally:
        s.stop()
e2e.done()
