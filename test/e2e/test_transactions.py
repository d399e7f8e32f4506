"""Lag against the last stable offset under read_committed.

Five messages in a committed transaction, then seven in a transaction that
stays open. The high watermark is 5 + 1 (commit marker) + 7 = 13; the last
stable offset stops at the open transaction's first message, 6. With the
group at 0: read_uncommitted lag 13, read_committed lag 6 — through `lag`
and through a scaler's `isolationLevel`.
"""
import json

from e2e import (KAFKA, KAFKA_TOOL, Proc, check, commit, create_topic, done, json_lines,
                 lagscale, produce, uid, write_config)

topic, group = uid("tx"), uid("g-tx")
create_topic(topic, 1)
produce(topic, 5, 0, "--transactional-id", uid("txid"))
open_tx = Proc([KAFKA_TOOL, "produce", "-b", KAFKA, "-t", topic, "-p", "0", "-n", "7",
                "--transactional-id", uid("txid-open"), "--open"])
try:
    check(open_tx.wait_for(lambda o: "open" in o, 60), "open transaction in place",
          open_tx.stderr())
    commit(group, (topic, 0, 0))

    def lag_with(level):
        r = lagscale("lag", "--bootstrap-servers", KAFKA, "--group", group, "--topic", topic,
                     "--isolation-level", level, "--output", "json")
        check(r.returncode == 0, "lag %s exits 0" % level, r.stderr)
        return json.loads(r.stdout)

    unc = lag_with("read_uncommitted")
    com = lag_with("read_committed")
    check(unc["totalLag"] == 13, "read_uncommitted: lag to the high watermark", str(unc))
    check(com["totalLag"] == 6, "read_committed: lag to the last stable offset", str(com))

    cfg = write_config("""
kafka: {clusters: [{name: k, bootstrapServers: "%s"}]}
scalers:
  - name: tx-committed
    target: {apiVersion: apps/v1, kind: Deployment, namespace: default, name: c}
    kafka: {group: %s, topics: [%s], isolationLevel: read_committed}
    policy: {lagThreshold: 1}
  - name: tx-uncommitted
    target: {apiVersion: apps/v1, kind: Deployment, namespace: default, name: d}
    kafka: {group: %s, topics: [%s]}
    policy: {lagThreshold: 1}
""" % (KAFKA, group, topic, group, topic))
    r = lagscale("run", "--config", cfg, "--dry-run", "--once", "--output", "json")
    by = {d["scaler"]: d for d in json_lines(r.stdout)}
    check(by.get("tx-committed", {}).get("totalLag") == 6, "scaler read_committed", r.stdout)
    check(by.get("tx-uncommitted", {}).get("totalLag") == 13, "scaler read_uncommitted",
          r.stdout)
finally:
    open_tx.stop()
done()
