"""Partitions added while `run --dry-run` runs are picked up within one
polling interval: by the next round."""
import time

from e2e import (KAFKA, Proc, LAGSCALE, add_partitions, check, commit, create_topic, done,
                 json_lines, produce, uid, write_config)

topic, group = uid("grow"), uid("g-grow")
create_topic(topic, 2)
for p in range(2):
    produce(topic, 10, p)
commit(group, (topic, 0, 0), (topic, 1, 0))
cfg = write_config("""
kafka: {clusters: [{name: k, bootstrapServers: "%s"}]}
server: {address: "127.0.0.1:0"}
scalers:
  - name: grow
    target: {apiVersion: apps/v1, kind: Deployment, namespace: default, name: c}
    kafka: {group: %s, topics: [%s]}
    policy: {lagThreshold: 5, pollingInterval: 2s, maxReplicas: 10}
""" % (KAFKA, group, topic))


def whole(out):
    """The decisions of whole lines (a line being written is left out)."""
    return json_lines(out[:out.rfind("\n") + 1])


run = Proc([LAGSCALE, "run", "--config", cfg, "--dry-run", "--output", "json"])
try:
    check(run.wait_for(lambda o: any(d["partitionCount"] == 2 for d in whole(o)), 60),
          "2 partitions seen first", run.stdout() + run.stderr())
    add_partitions(topic, 4)
    changed = time.time()
    # Counted in rounds, not seconds: the round under way when the
    # partitions were added may miss them, the next one may not (however
    # late a busy machine makes it, and however long the produce below takes).
    n = len(whole(run.stdout()))
    for p in (2, 3):
        produce(topic, 10, p)
    seen = run.wait_for(lambda o: any(d["partitionCount"] == 4 for d in whole(o)[n:]), 60)
    took = time.time() - changed
    check(seen, "4 partitions seen", run.stdout()[-2000:])
    after = whole(run.stdout())[n:]
    first = next((i for i, d in enumerate(after) if d["partitionCount"] == 4), None)
    print("# seen in round %s after the change, %.1f s" % (first, took))
    check(first is not None and first <= 1,
          "picked up by the next round (within one polling interval)",
          str([d["partitionCount"] for d in after]))
    # Partitions 0 and 1 are 10 behind each; 2 and 3 were never committed
    # and count 1 each under `latest` (produced to or not).
    got = after[first] if first is not None else {}
    check(got.get("totalLag") == 22, "lag counts the new partitions", str(got))
finally:
    rc = run.stop()
check(rc == 0, "run exits 0 on SIGTERM", str(rc))
done()
