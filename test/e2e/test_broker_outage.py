"""The broker stops while `lagscale run --dry-run` runs: decisions turn to
error, then fallback, nothing crashes and the replicas are held; once the
broker is back, decisions recover within two polling intervals."""
import os
import subprocess
import time

from e2e import (KAFKA, LAGSCALE, Proc, check, commit, create_topic, done, json_lines,
                 produce, uid, write_config)

env_cmd = os.environ["LAGSCALE_E2E_ENV"]
topic, group = uid("outage"), uid("g-outage")
create_topic(topic, 4)
for p in range(4):
    produce(topic, 50, p)
commit(group, *[(topic, p, 0) for p in range(4)])
interval = 2.0
cfg = write_config("""
kafka: {clusters: [{name: k, bootstrapServers: "%s"}]}
server: {address: "127.0.0.1:0"}
scalers:
  - name: outage
    target: {apiVersion: apps/v1, kind: Deployment, namespace: default, name: c}
    kafka: {group: %s, topics: [%s]}
    policy:
      lagThreshold: 20
      pollingInterval: 2s
      maxReplicas: 10
      fallback: {failureThreshold: 2, replicas: 6}   # KEDA's form: no behavior is static
""" % (KAFKA, group, topic))
run = Proc([LAGSCALE, "run", "--config", cfg, "--dry-run", "--output", "json"])
try:
    ok = run.wait_for(lambda o: any(d["action"] in ("scale_up", "none") and d["totalLag"] == 200
                                    for d in json_lines(o)), 20)
    check(ok, "reads lag before the outage", run.stdout() + run.stderr())
    before = json_lines(run.stdout())[-1]["desiredReplicas"]
    # Counted from before the stop: the broker may refuse reads while it
    # shuts down, so the first failures can come before kafka-stop returns.
    stopped = len(json_lines(run.stdout()))
    subprocess.run([env_cmd, "kafka-stop"], check=True, capture_output=True, timeout=120)
    check(run.wait_for(lambda o: any(d["action"] == "fallback" for d in json_lines(o)[stopped:]),
                       8 * interval + 20),
          "decisions turn to fallback", run.stdout()[-1500:])
    during = json_lines(run.stdout())[stopped:]
    check(any(d["action"] == "error" for d in during), "first failures are 'error'",
          str([d["action"] for d in during]))
    check(all(d["totalLag"] is None for d in during if d["action"] in ("error", "fallback")),
          "an unknown lag is null, never 0")
    check(all(d["desiredReplicas"] >= 1 for d in during), "never scaled to zero")
    check(any(d["desiredReplicas"] == 6 for d in during if d["action"] == "fallback"),
          "fallback.replicas without a behavior applied (static, as in KEDA)", str(during[-1]))
    check(run.p.poll() is None, "still running during the outage", run.stderr()[-1000:])
    subprocess.run([env_cmd, "kafka-start"], check=True, capture_output=True, timeout=300)
    back = time.time()
    n = len(json_lines(run.stdout()))
    rec = run.wait_for(lambda o: any(d["totalLag"] == 200 for d in json_lines(o)[n:]),
                       6 * interval)
    took = time.time() - back
    check(rec, "lag read again after the broker is back", run.stdout()[-1500:])
    check(took <= 2 * interval + 1.0, "recovered within two polling intervals",
          "took %.1f s" % took)
finally:
    rc = run.stop()
check(rc == 0, "exits 0 on SIGTERM", "exit %s: %s" % (rc, run.stderr()[-500:]))
done()
