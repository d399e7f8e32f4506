"""A consumer group that does not exist, in `run` against the real broker
and API server.

Two scalers on one real topic: "typo" names a group nobody ever used,
"real" the group that committed to the topic. Every round, "typo":
- is decided as a failed read (replicas held at 2, never lag 1 per
  partition as before), the decision's reason saying the group does not
  exist;
- counts lagscale_errors_total{stage="group_not_found"}, and not "collect";
- records a Warning Event GroupNotFound on its target, aggregated into one
  Event with a series rather than one object per round.
"real" scales on as usual (lag 60 at lagThreshold 10 on 3 partitions: 3 replicas).
"""
import re
import urllib.request

import e2e
import test_kube_lib as k

topic, real_group, typo_group = e2e.uid("gnf"), e2e.uid("g-real"), e2e.uid("g-typo")
k.make_lag(topic, real_group, 3, 20)

POLICY = ("{lagThreshold: 10, maxReplicas: 10, pollingInterval: 1s, "
          "fallback: {failureThreshold: 1000}}")


def errors_total(port, scaler, stage):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if (line.startswith("lagscale_errors_total{") and 'scaler="%s"' % scaler in line
                and 'stage="%s"' % stage in line):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


with k.Namespace("ls-gnf") as ns:
    k.create_deployment(ns, "typo", 2)
    k.create_deployment(ns, "real", 1)
    cfg = k.config([
        {"name": "typo", "ns": ns, "target": "typo", "group": typo_group, "topic": topic,
         "policy": POLICY},
        {"name": "real", "ns": ns, "target": "real", "group": real_group, "topic": topic,
         "policy": POLICY},
    ], kubeconfig_path=k.ADMIN_KUBECONFIG)
    port = e2e.free_port()
    with open(cfg) as f:
        text = f.read().replace("127.0.0.1:0", "127.0.0.1:%d" % port)
    with open(cfg, "w") as f:
        f.write(text)
    proc = e2e.Proc([e2e.LAGSCALE, "run", "--config", cfg, "--output", "json"])
    missing = 'consumer group "%s" does not exist' % typo_group

    def counted():
        """(group_not_found, collect) by the metrics, then by the decisions
        printed since: equal once the rounds counted have been printed. A
        read that timed out on a busy machine is a collect error and says
        so; a missing group never is."""
        m = (errors_total(port, "typo", "group_not_found"),
             errors_total(port, "typo", "collect"))
        ds = k.decisions(proc.stdout(), "typo")
        return m, (sum(1 for d in ds if missing in d["reason"]),
                   sum(1 for d in ds if missing not in d["reason"]))

    try:
        proc.wait_for(lambda out: len([d for d in k.decisions(out, "typo")
                                       if missing in d["reason"]]) >= 4, 60)
        k.wait_until(lambda: counted()[0] == counted()[1], 60)
        (stage, collect), (n_missing, n_other) = counted()
        ds = k.decisions(proc.stdout(), "typo")
        real_ok = k.wait_until(lambda: k.replicas(ns, "deployment", "real") == 3, 60)
        # Events go out beside the rounds: wait until the repeats are in.
        k.wait_until(lambda: sum((e.get("series") or {}).get("count", 1)
                                 for e in k.events(ns, "GroupNotFound")
                                 if e["regarding"]["name"] == "typo") >= 2, 60)
    finally:
        proc.stop()
    print("     %d rounds: %d group not found, %d other failures" % (len(ds), n_missing, n_other))
    e2e.check(n_missing >= 4, "typo decided every round", proc.stderr())
    e2e.check(all(d["action"] == "error" and d["desiredReplicas"] == 2 for d in ds) and
              all(missing in d["reason"] or "lag read failed" in d["reason"] for d in ds),
              "typo: error decisions that hold 2 replicas and say the group does not exist",
              "\n".join(str(d) for d in ds[:3]))
    e2e.check(all(d["totalLag"] is None or d["totalLag"] < 0 for d in ds),
              "typo: no lag is made up for the missing group", str(ds[:1]))
    e2e.check(k.replicas(ns, "deployment", "typo") == 2, "typo keeps its 2 replicas")
    e2e.check(stage is not None and stage >= 4 and stage == n_missing,
              "lagscale_errors_total{stage=\"group_not_found\"} counts the rounds",
              "%s counted, %d rounds" % (stage, n_missing))
    e2e.check(collect == n_other, "a missing group is not counted as a collect error",
              "%s collect errors, %d other failures" % (collect, n_other))
    e2e.check(real_ok, "the other scaler scales on (3 replicas, one per partition)",
              str(k.replicas(ns, "deployment", "real")))
    evs = [e for e in k.events(ns, "GroupNotFound") if e["regarding"]["name"] == "typo"]
    e2e.check(len(evs) == 1 and evs[0]["type"] == "Warning" and
              typo_group in evs[0]["note"],
              "one GroupNotFound Warning Event on the target, naming the group", str(evs))
    count = sum((e.get("series") or {}).get("count", 1) for e in evs)
    e2e.check(count >= 2, "repeats are counted in the Event's series, not new Events",
              str(count))
    e2e.check(not k.events(ns, "LagReadFailed"), "no LagReadFailed for a missing group")
e2e.done()
