"""Partitions added while `run --dry-run` runs are picked up within one
polling interval."""
import time

from e2e import (KAFKA, Proc, LAGSCALE, add_partitions, check, commit, create_topic, done,
                 json_lines, produce, uid, write_config)

topic, group = uid("grow"), uid("g-grow")
create_topic(topic, 2)
for p in range(2):
    produce(topic, 10, p)
commit(group, (topic, 0, 0), (topic, 1, 0))
interval = 2.0
cfg = write_config("""
kafka: {clusters: [{name: k, bootstrapServers: "%s"}]}
server: {address: "127.0.0.1:0"}
scalers:
  - name: grow
    target: {apiVersion: apps/v1, kind: Deployment, namespace: default, name: c}
    kafka: {group: %s, topics: [%s]}
    policy: {lagThreshold: 5, pollingInterval: 2s, maxReplicas: 10}
""" % (KAFKA, group, topic))
run = Proc([LAGSCALE, "run", "--config", cfg, "--dry-run", "--output", "json"])
try:
    check(run.wait_for(lambda o: any(d["partitionCount"] == 2 for d in json_lines(o)), 20),
          "2 partitions seen first", run.stdout() + run.stderr())
    add_partitions(topic, 4)
    changed = time.time()
    for p in (2, 3):
        produce(topic, 10, p)
    seen = run.wait_for(lambda o: any(d["partitionCount"] == 4 for d in json_lines(o)),
                        3 * interval)
    took = time.time() - changed
    check(seen, "4 partitions seen", run.stdout()[-2000:])
    # One interval, plus the jitter (5%) and the round itself.
    check(took <= interval * 1.05 + 1.0, "picked up within one polling interval",
          "took %.1f s" % took)
    last = json_lines(run.stdout())[-1]
    # Partitions 0 and 1 are 10 behind each; 2 and 3 were never committed
    # and count 1 each under `latest`.
    check(last["totalLag"] == 22, "lag counts the new partitions", str(last))
finally:
    rc = run.stop()
check(rc == 0, "run exits 0 on SIGTERM", str(rc))
done()
