"""Events (events.k8s.io/v1) lagscale records when lag cannot be read.

A Kafka cluster nobody listens on; pollingInterval 1s; fallback after 2
failed reads.
- every failed round records LagReadFailed (Warning, action ReadLag, note =
  the read error), and the repeats are one Event with a series (count,
  lastObservedTime) rather than one object per round;
- FallbackActivated once when the fallback starts: with behavior
  currentReplicas the replicas stay; with static the fallback replicas are
  set and the Event tells the change;
- both come from reportingController lagscale.io/lagscale;
- with a real lag on the broker: Activated when an idle (0) workload gets
  lag, Deactivated when it has had none for cooldownPeriod;
- a hot partition: all the lag on partition 0 of 12, 6 replicas (range: the
  consumer of partition 0 has partition 1 too, without lag): more replicas
  would leave it the same backlog, so lagscale holds 6 (KEDA would go to
  12) and records HotPartition (Warning) once for the episode.
"""
import e2e
import test_kube_lib as k

with k.Namespace("ls-events") as ns:
    k.create_deployment(ns, "hold", 2)
    k.create_deployment(ns, "static", 1)
    hold_policy = ("{lagThreshold: 10, pollingInterval: 1s, "
                   "fallback: {failureThreshold: 2, behavior: currentReplicas}}")
    static_policy = ("{lagThreshold: 10, pollingInterval: 1s, "
                     "fallback: {failureThreshold: 2, behavior: static, replicas: 3}}")
    cfg = k.config([
        {"name": "hold", "ns": ns, "target": "hold", "group": "g", "topic": "t",
         "policy": hold_policy},
        {"name": "static", "ns": ns, "target": "static", "group": "g", "topic": "t",
         "policy": static_policy},
    ], kubeconfig_path=k.ADMIN_KUBECONFIG)
    with open(cfg) as f:
        text = f.read().replace(e2e.KAFKA, "127.0.0.1:1")
    with open(cfg, "w") as f:
        f.write(text)
    proc = e2e.Proc([e2e.LAGSCALE, "run", "--config", cfg, "--output", "json"])
    try:
        proc.wait_for(lambda out: len(k.decisions(out, "hold")) >= 7, 60)
        ds = k.decisions(proc.stdout(), "hold")

        # Events go out beside the rounds: wait until those of the rounds
        # decided so far have reached the API server, however late.
        def lag_events():
            return [e for e in k.events(ns, "LagReadFailed") if e["regarding"]["name"] == "hold"]

        k.wait_until(lambda: sum((e.get("series") or {}).get("count", 1)
                                 for e in lag_events()) >= len(ds) - 1 and
                     {e["regarding"]["name"] for e in k.events(ns, "FallbackActivated")} ==
                     {"hold", "static"} and
                     k.replicas(ns, "deployment", "static") == 3, 60)
    finally:
        proc.stop()
    lag_ev = lag_events()
    notes = set(e["note"] for e in lag_ev)
    print("     %d rounds, %d LagReadFailed Event(s), counts %s" % (
        len(ds), len(lag_ev), [(e.get("series") or {}).get("count", 1) for e in lag_ev]))
    e2e.check(lag_ev and all(e["type"] == "Warning" and e["action"] == "ReadLag"
                             for e in lag_ev),
              "LagReadFailed Events are Warnings with action ReadLag", str(lag_ev[:1]))
    e2e.check(len(lag_ev) == len(notes),
              "one Event per distinct note: repeats are aggregated, not new objects",
              "%d events for %d notes" % (len(lag_ev), len(notes)))
    total = sum((e.get("series") or {}).get("count", 1) for e in lag_ev)
    e2e.check(total >= len(ds) - 1,
              "the series counts every failed round (%d counted, %d rounds)" % (total, len(ds)))
    big = max(lag_ev, key=lambda e: (e.get("series") or {}).get("count", 1)) if lag_ev else {}
    e2e.check((big.get("series") or {}).get("count", 0) >= 3 and
              big["series"].get("lastObservedTime"),
              "a series has count >= 3 and a lastObservedTime", str(big.get("series")))
    fb = [e for e in k.events(ns, "FallbackActivated") if e["regarding"]["name"] == "hold"]
    e2e.check(len(fb) == 1 and (fb[0].get("series") or {}).get("count", 1) == 1,
              "FallbackActivated once for the currentReplicas fallback", str(fb))
    e2e.check(k.replicas(ns, "deployment", "hold") == 2, "... and the replicas stay at 2")
    fb = [e for e in k.events(ns, "FallbackActivated") if e["regarding"]["name"] == "static"]
    e2e.check(len(fb) == 1 and "1 -> 3" in fb[0]["note"],
              "FallbackActivated once for the static fallback, telling 1 -> 3", str(fb))
    e2e.check(k.replicas(ns, "deployment", "static") == 3, "... which set 3 replicas")
    e2e.check(any(d["action"] == "fallback" for d in ds), "the decisions say fallback")

    # --- Activated and Deactivated, on the real broker ----------------------------
    k.create_deployment(ns, "idle", 0)
    topic, group = e2e.uid("kevents"), e2e.uid("kevents-g")
    k.make_lag(topic, group, 1, 10)
    cfg = k.config([{"name": "idle", "ns": ns, "target": "idle", "group": group, "topic": topic,
                     "policy": "{lagThreshold: 10, minReplicas: 1, idleReplicas: 0, "
                               "cooldownPeriod: 3s, pollingInterval: 1s}"}],
                   kubeconfig_path=k.ADMIN_KUBECONFIG)
    proc = e2e.Proc([e2e.LAGSCALE, "run", "--config", cfg, "--output", "json"])
    try:
        up = k.wait_until(lambda: k.replicas(ns, "deployment", "idle") == 1, 60)
        e2e.check(up, "lag on an idle workload activates it (0 -> 1)")
        ev = k.wait_until(lambda: k.events(ns, "Activated"), 60)
        e2e.check(ev and "0 -> 1" in ev[0]["note"] and ev[0]["type"] == "Normal",
                  "an Event Activated tells 0 -> 1", str(ev))
        e2e.commit(group, (topic, 0, 10))
        down = k.wait_until(lambda: k.replicas(ns, "deployment", "idle") == 0, 60)
        e2e.check(down, "no lag for the cooldown period: back to 0")
        ev = k.wait_until(lambda: k.events(ns, "Deactivated"), 60)
        e2e.check(ev and "1 -> 0" in ev[0]["note"], "an Event Deactivated tells 1 -> 0", str(ev))
    finally:
        rc = proc.stop()
    e2e.check(rc == 0, "lagscale exits 0", proc.stderr()[-800:])

    # --- HotPartition, on the real broker -------------------------------------------
    k.create_deployment(ns, "hot", 6)
    topic, group = e2e.uid("khot"), e2e.uid("khot-g")
    e2e.create_topic(topic, 12)
    e2e.produce(topic, 800, 0)
    e2e.commit(group, *[(topic, p, 0) for p in range(12)])
    cfg = k.config([{"name": "hot", "ns": ns, "target": "hot", "group": group, "topic": topic,
                     "policy": "{lagThreshold: 100, pollingInterval: 1s}"}],
                   kubeconfig_path=k.ADMIN_KUBECONFIG)
    proc = e2e.Proc([e2e.LAGSCALE, "run", "--config", cfg, "--output", "json"])
    try:
        proc.wait_for(lambda out: len(k.decisions(out, "hot")) >= 4, 60)
        ev = k.wait_until(lambda: k.events(ns, "HotPartition"), 60)
        ds = k.decisions(proc.stdout(), "hot")
    finally:
        rc = proc.stop()
    e2e.check(ds and all(d["desiredReplicas"] == 6 for d in ds),
              "a hot partition: the replicas stay at 6 (lag 800 asks for 8, i.e. 12)",
              str([(d["desiredReplicas"], d["reason"]) for d in ds[:2]]))
    e2e.check(k.replicas(ns, "deployment", "hot") == 6, "... and the Deployment has 6")
    e2e.check(ev and len(ev) == 1 and ev[0]["type"] == "Warning" and
              (ev[0].get("series") or {}).get("count", 1) == 1 and
              "not lightened by more replicas" in ev[0]["note"],
              "one HotPartition Warning for the episode, saying why", str(ev))
    e2e.check(rc == 0, "lagscale exits 0", proc.stderr()[-800:])
e2e.done()
