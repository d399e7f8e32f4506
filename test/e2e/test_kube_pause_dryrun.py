"""Pause annotations and dry-run against the real API server.

- `lagscale run --dry-run --once --output json` reads the real current
  replicas and sends its patch with ?dryRun=All: the object keeps its
  resourceVersion and replicas, no Event is stored, "applied" is false;
- lagscale.io/paused: "true" keeps lagscale from changing the target
  (action "paused"); lagscale.io/paused-replicas: "N" makes it set N;
  removing them lets it scale again; an unreadable value counts as paused.

What must not happen is waited for in rounds and in the decisions' own
clock, not in the test's: a busy machine makes rounds late, so "still 4
after 2 s" proves nothing unless rounds were made in those seconds.
"""
import datetime
import os

import e2e
import test_kube_lib as k

with k.Namespace("ls-pause") as ns:
    topic, group = e2e.uid("kpause"), e2e.uid("kpause-g")
    # lag 60 over 6 partitions: lagscale wants 6 replicas.
    k.make_lag(topic, group, 6, 10)
    k.create_deployment(ns, "dry", 2)
    k.create_deployment(ns, "web", 2)
    cfg_dry = k.config([{"name": "dry", "ns": ns, "target": "dry", "group": group,
                         "topic": topic}], kubeconfig_path=k.ADMIN_KUBECONFIG)

    # --- dry-run --------------------------------------------------------------
    k.wait_until(lambda: k.kubectl_json("-n", ns, "get", "deployment", "dry")
                 .get("status", {}).get("observedGeneration"), 10)
    rv = k.resource_version(ns, "deployment", "dry")
    p = e2e.lagscale("run", "--config", cfg_dry, "--dry-run", "--once", "--output", "json")
    ds = k.decisions(p.stdout, "dry")
    e2e.check(p.returncode == 0, "dry-run --once exits 0", p.stderr[-1000:])
    e2e.check(len(ds) == 1 and ds[0]["currentReplicas"] == 2,
              "dry-run shows the real current replicas (2), not assumed ones", str(ds))
    e2e.check(ds and ds[0]["desiredReplicas"] == 6 and ds[0]["action"] == "scale_up" and
              ds[0]["applied"] is False, "it would scale up to 6, applied false", str(ds))
    # --once has exited: whatever it sent has been answered.
    e2e.check(k.resource_version(ns, "deployment", "dry") == rv,
              "the patch with dryRun=All left the object unchanged (same resourceVersion)")
    e2e.check(k.replicas(ns, "deployment", "dry") == 2, "the replicas are still 2")
    e2e.check(not k.events(ns), "no Event was stored by dry-run", str(k.events(ns)))
    # (test_kube_rbac.py shows the dry-run patch reaches the server: without
    # the patch permission it is refused with 403.)
    k.kubectl("-n", ns, "annotate", "deployment", "dry", "lagscale.io/paused-replicas=5")
    p = e2e.lagscale("run", "--config", cfg_dry, "--dry-run", "--once", "--output", "json")
    ds = k.decisions(p.stdout, "dry")
    e2e.check(ds and ds[0]["action"] == "paused" and ds[0]["desiredReplicas"] == 5 and
              ds[0]["currentReplicas"] == 2 and not ds[0]["applied"],
              "dry-run honours paused-replicas (would set 5) and applies nothing", str(ds))
    e2e.check(k.replicas(ns, "deployment", "dry") == 2, "still 2 replicas after dry-run")

    # --- pause ------------------------------------------------------------------
    k.kubectl("-n", ns, "annotate", "deployment", "web", "lagscale.io/paused=true")
    cfg = k.config([{"name": "web", "ns": ns, "target": "web", "group": group,
                     "topic": topic}], kubeconfig_path=k.ADMIN_KUBECONFIG)
    proc = e2e.Proc([e2e.LAGSCALE, "run", "--config", cfg, "--output", "json"])
    try:
        seen = proc.wait_for(lambda out: len(k.decisions(out, "web")) >= 3, 60)
        ds = k.decisions(proc.stdout(), "web")
        e2e.check(seen and all(d["action"] == "paused" and not d["applied"] for d in ds),
                  "paused: every decision is `paused`, nothing applied", str(ds[-1:]))
        e2e.check(k.replicas(ns, "deployment", "web") == 2,
                  "paused: the replicas stay at 2 despite lag 60")

        k.kubectl("-n", ns, "annotate", "deployment", "web", "lagscale.io/paused-replicas=4")
        ok = k.wait_until(lambda: k.replicas(ns, "deployment", "web") == 4, 60)
        e2e.check(ok, "paused-replicas 4: lagscale sets 4",
                  "replicas %s" % k.replicas(ns, "deployment", "web"))
        ds = [d for d in k.decisions(proc.stdout(), "web") if d["applied"]]
        e2e.check(ds and ds[0]["action"] == "paused" and ds[0]["desiredReplicas"] == 4,
                  "the decision that set 4 is `paused`, applied", str(ds[:1]))
        # Three more rounds, each deciding 4 again: it stays at 4.
        mark = len(k.decisions(proc.stdout(), "web"))
        proc.wait_for(lambda out: len(k.decisions(out, "web")) >= mark + 3, 60)
        later = k.decisions(proc.stdout(), "web")[mark:]
        e2e.check(len(later) >= 3 and all(d["desiredReplicas"] == 4 for d in later) and
                  k.replicas(ns, "deployment", "web") == 4, "and it stays at 4",
                  str([(d["action"], d["desiredReplicas"]) for d in later]))

        k.kubectl("-n", ns, "annotate", "deployment", "web", "lagscale.io/paused-",
                  "lagscale.io/paused-replicas-")
        ok = k.wait_until(lambda: k.replicas(ns, "deployment", "web") == 6, 60)
        e2e.check(ok, "annotations removed: scaling resumes (6)",
                  "replicas %s" % k.replicas(ns, "deployment", "web"))

        k.kubectl("-n", ns, "annotate", "deployment", "web",
                  "lagscale.io/paused-replicas=three")
        mark = len(k.decisions(proc.stdout(), "web"))
        e2e.commit(group, *[(topic, q, 10) for q in range(6)])

        # Rounds that saw no lag, spanning more than the 10 s scale-down
        # window by their own timestamps: unpaused, these would be at 1.
        def idle_span(out):
            ds = [d for d in k.decisions(out, "web")[mark:] if d["totalLag"] == 0]
            if len(ds) < 2:
                return 0
            t = [datetime.datetime.strptime(d["time"], "%Y-%m-%dT%H:%M:%SZ") for d in ds]
            return (t[-1] - t[0]).total_seconds()

        proc.wait_for(lambda out: idle_span(out) >= 12, 120)
        idle = [d for d in k.decisions(proc.stdout(), "web")[mark:] if d["totalLag"] == 0]
        print("     %d rounds without lag over %.0f s" % (len(idle), idle_span(proc.stdout())))
        e2e.check(idle_span(proc.stdout()) >= 12 and
                  all(d["action"] == "paused" and d["desiredReplicas"] == 6 for d in idle) and
                  k.replicas(ns, "deployment", "web") == 6,
                  "an unreadable paused-replicas counts as paused (no scale-down)",
                  str([(d["action"], d["desiredReplicas"]) for d in idle[-3:]]))
        e2e.check('bad annotation lagscale.io/paused-replicas: "three"' in proc.stderr(),
                  "... and is reported", proc.stderr()[-1500:])
    finally:
        rc = proc.stop()
    e2e.check(rc == 0, "lagscale exits 0", proc.stderr()[-1000:])
e2e.done()
