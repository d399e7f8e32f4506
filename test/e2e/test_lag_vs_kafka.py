"""`lagscale lag --output json` agrees with Kafka's own ConsumerGroupCommand.

Three groups on two multi-partition topics: one with a live member, one
whose members left after committing, one that joined but never committed.
For every partition Kafka reports, lagscale must report the same committed
offset (CURRENT-OFFSET, null for "-"), end offset (LOG-END-OFFSET) and, where
Kafka computes one, the same lag; and the same owner (CONSUMER-ID, HOST,
CLIENT-ID), group state, assignor and member count. `run` decisions carry
the members and the assignor.

Groups as kafka-consumer-groups sees them: a group that does not exist is
exit 1 with "consumer group X does not exist" (the group that joined but
never committed exists); --all-groups reads the groups `--list` shows;
repeated --group reads each; a scaler without topics reads every topic its
group committed to, the same lag as naming them.
"""
import json
import re

from e2e import (KAFKA, KAFKA_TOOL, Proc, check, commit, create_topic, describe_group,
                 describe_members, done, json_lines, kafka_java, lagscale, produce, uid,
                 write_config)

a, b = uid("orders"), uid("payments")
create_topic(a, 6)
create_topic(b, 3)
for p in range(6):
    produce(a, 20 + 7 * p, p)
for p in range(3):
    produce(b, 15, p)

with_members, no_members, never = uid("g-live"), uid("g-gone"), uid("g-never")

# A group without members: offsets committed, nobody connected.
commit(no_members, *[(a, p, 3 * p) for p in range(6)], (b, 0, 15), (b, 1, 4))

# A group with a live member that consumed 30 messages and committed them.
live = Proc([KAFKA_TOOL, "member", "-b", KAFKA, "-g", with_members, "-t", a, "-n", "30"])
# A group whose member joined but never committed anything.
idle = Proc([KAFKA_TOOL, "member", "-b", KAFKA, "-g", never, "-t", b, "-n", "0"])
try:
    check(live.wait_for(lambda out: "ready" in out, 60), "live member ready")
    check(idle.wait_for(lambda out: "ready" in out, 60), "idle member ready")

    for group, topics in ((with_members, [a]), (no_members, [a, b]), (never, [b])):
        kafka, raw = describe_group(group)
        check(len(kafka) > 0, "Kafka describes %s" % group, raw.stdout + raw.stderr)
        args = ["lag", "--bootstrap-servers", KAFKA, "--group", group, "--output", "json"]
        for t in topics:
            args += ["--topic", t]
        r = lagscale(*args)
        check(r.returncode == 0, "lagscale lag %s exits 0" % group, r.stderr)
        got = json.loads(r.stdout)
        ours = {}
        for t in got["topics"]:
            for p in t["partitions"]:
                ours[(t["topic"], p["partition"])] = (p["committed"], p["end"], p["lag"])
        for key, (cur, end, lag) in sorted(kafka.items()):
            mine = ours.get(key)
            check(mine is not None, "%s %s:%d reported" % (group, key[0], key[1]))
            if mine is None:
                continue
            check(mine[0] == cur, "%s %s:%d committed" % (group, *key),
                  "lagscale %s, Kafka %s" % (mine[0], cur))
            check(mine[1] == end, "%s %s:%d end offset" % (group, *key),
                  "lagscale %s, Kafka %s" % (mine[1], end))
            if lag is not None:
                check(mine[2] == lag, "%s %s:%d lag" % (group, *key),
                      "lagscale %s, Kafka %s" % (mine[2], lag))
            else:
                # No commit: lagscale counts 1 under the default `latest`.
                check(mine[2] == 1, "%s %s:%d lag without commit" % (group, *key), str(mine))
        owners, state = describe_members(group)
        for t in got["topics"]:
            for p in t["partitions"]:
                key = (t["topic"], p["partition"])
                if key in owners:
                    check((p["consumerId"], p["host"], p["clientId"]) == owners[key],
                          "%s %s:%d owner" % (group, *key),
                          "lagscale %s, Kafka %s" % (
                              (p["consumerId"], p["host"], p["clientId"]), owners[key]))
        check(state and got["state"] == state["state"], "%s state" % group,
              "lagscale %s, Kafka %s" % (got["state"], state))
        check(state and got["members"] == state["members"], "%s members" % group,
              "lagscale %s, Kafka %s" % (got["members"], state))
        if state and state["members"] > 0:
            check(got["assignor"] == state["assignor"], "%s assignor" % group,
                  "lagscale %s, Kafka %s" % (got["assignor"], state))
        check(got["partitionCount"] == len(ours), "%s partitionCount" % group)
        check(got["totalLag"] == sum(v[2] for v in ours.values()), "%s totalLag" % group)

    # The live member owns every partition of a.
    r = lagscale("lag", "--bootstrap-servers", KAFKA, "--group", with_members, "--topic", a,
                 "--output", "json")
    got = json.loads(r.stdout)
    check(all(p["consumerId"] for p in got["topics"][0]["partitions"]),
          "every partition of %s has an owner" % a, r.stdout)
    table = lagscale("lag", "--bootstrap-servers", KAFKA, "--group", with_members, "--topic", a)
    head = table.stdout.splitlines()[0].split() if table.stdout else []
    member = got["topics"][0]["partitions"][0]["consumerId"]
    check(head[-3:] == ["CONSUMER-ID", "HOST", "CLIENT-ID"] and member in table.stdout and
          'group "%s": state Stable' % with_members in table.stdout,
          "the table shows owners and the group's state", table.stdout)

    # run decisions: the group's members and assignor.
    cfg = write_config("""
kafka:
  clusters: [{name: local, bootstrapServers: "%s"}]
server: {address: "127.0.0.1:0"}
scalers:
  - name: live
    target: {apiVersion: apps/v1, kind: Deployment, namespace: default, name: c}
    kafka: {cluster: local, group: %s, topics: [%s]}
  - name: gone
    target: {apiVersion: apps/v1, kind: Deployment, namespace: default, name: d}
    kafka: {cluster: local, group: %s, topics: [%s]}
""" % (KAFKA, with_members, a, no_members, a))
    r = lagscale("run", "--config", cfg, "--dry-run", "--once", "--output", "json",
                 env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "KUBECONFIG": ""})
    ds = {d["scaler"]: d for d in json_lines(r.stdout)}
    check(ds.get("live", {}).get("members") == 1 and ds["live"].get("assignor") == "range",
          "run: the live group has 1 member, assignor range", r.stdout + r.stderr)
    check(ds.get("gone", {}).get("members") == 0 and ds["gone"].get("assignor") is None,
          "run: the group without members has 0 and no assignor", r.stdout + r.stderr)

    # Without --topic: every topic the group committed to (both for no_members).
    r = lagscale("lag", "--bootstrap-servers", KAFKA, "--group", no_members, "--output", "json")
    got = json.loads(r.stdout)
    check(sorted(t["topic"] for t in got["topics"]) == sorted([a, b]),
          "without --topic: the group's committed topics", r.stdout)

    # A group nobody ever used: exit 1, as kafka-consumer-groups says so.
    missing = uid("g-missing")
    for extra in ([], ["--topic", a]):
        r = lagscale("lag", "--bootstrap-servers", KAFKA, "--group", missing, *extra)
        check(r.returncode == 1 and
              'consumer group "%s" does not exist' % missing in r.stderr and not r.stdout,
              "missing group%s: exit 1, does not exist" % (" with --topic" if extra else ""),
              "exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
    kafka = kafka_java("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                       "--bootstrap-server", KAFKA, "--describe", "--group", missing)
    # Kafka 3.9 says "does not exist", 4.x "GroupIdNotFoundException ... not found".
    check(re.search("does not exist|not found", kafka.stdout + kafka.stderr),
          "kafka-consumer-groups agrees that it does not exist", kafka.stdout + kafka.stderr)
    # The missing group among existing ones: the others are printed.
    r = lagscale("lag", "--bootstrap-servers", KAFKA, "--group", with_members, "--group",
                 missing, "--topic", a, "--output", "json")
    check(r.returncode == 1 and [g["group"] for g in json_lines(r.stdout)] == [with_members],
          "a missing group among others: exit 1, the others printed", r.stdout + r.stderr)

    # Repeated --group: one JSON line per group, each as read alone.
    r = lagscale("lag", "--bootstrap-servers", KAFKA, "--group", no_members, "--group",
                 with_members, "--topic", a, "--output", "json")
    got = json_lines(r.stdout)
    alone = [json.loads(lagscale("lag", "--bootstrap-servers", KAFKA, "--group", g, "--topic",
                                 a, "--output", "json").stdout)
             for g in (no_members, with_members)]
    check(r.returncode == 0 and [g["group"] for g in got] == [no_members, with_members] and
          [g["totalLag"] for g in got] == [g["totalLag"] for g in alone],
          "repeated --group: each group, as read alone", r.stdout + r.stderr)

    # --all-groups: the groups kafka-consumer-groups --list shows.
    listed = kafka_java("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                        "--bootstrap-server", KAFKA, "--list")
    theirs = sorted(l.strip() for l in listed.stdout.splitlines() if l.strip())
    r = lagscale("lag", "--bootstrap-servers", KAFKA, "--all-groups", "--output", "json")
    ours = sorted(g["group"] for g in json_lines(r.stdout))
    check(r.returncode == 0 and ours == theirs and
          {with_members, no_members, never} <= set(ours),
          "--all-groups: the groups kafka-consumer-groups --list shows (%d)" % len(theirs),
          "lagscale %s\nKafka %s\n%s" % (ours, theirs, r.stderr))
    # With --topic: the groups that committed to it (never only joined b).
    r = lagscale("lag", "--bootstrap-servers", KAFKA, "--all-groups", "--topic", b,
                 "--output", "json")
    check(r.returncode == 0 and [g["group"] for g in json_lines(r.stdout)] == [no_members],
          "--all-groups --topic: only the groups that committed to the topic",
          r.stdout + r.stderr)
    table = lagscale("lag", "--bootstrap-servers", KAFKA, "--all-groups")
    check(table.returncode == 0 and
          all('group "%s": state' % g in table.stdout for g in theirs),
          "--all-groups as a table: every group's state", table.stdout + table.stderr)

    # A scaler without topics: every topic its group committed to, the same
    # lag as naming them (no_members committed to a and b).
    named = json.loads(lagscale("lag", "--bootstrap-servers", KAFKA, "--group", no_members,
                                "--topic", a, "--topic", b, "--output", "json").stdout)
    cfg = write_config("""
kafka:
  clusters: [{name: local, bootstrapServers: "%s"}]
server: {address: "127.0.0.1:0"}
scalers:
  - name: every
    target: {apiVersion: apps/v1, kind: Deployment, namespace: default, name: e}
    kafka: {cluster: local, group: %s}
""" % (KAFKA, no_members))
    r = lagscale("check-config", cfg)
    check(r.returncode == 0, "check-config accepts a scaler without topics", r.stderr)
    r = lagscale("lag", "--config", cfg, "--output", "json")
    got = json.loads(r.stdout) if r.returncode == 0 else {}
    check(sorted(t["topic"] for t in got.get("topics", [])) == sorted([a, b]) and
          got["totalLag"] == named["totalLag"] and
          got["partitionCount"] == named["partitionCount"],
          "a scaler without topics: every committed topic, lag %s" % named["totalLag"],
          r.stdout + r.stderr)
    r = lagscale("run", "--config", cfg, "--dry-run", "--once", "--output", "json",
                 env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "KUBECONFIG": ""})
    ds = json_lines(r.stdout)
    check(len(ds) == 1 and ds[0]["totalLag"] == named["totalLag"],
          "run: a scaler without topics decides on the same lag", r.stdout + r.stderr)
finally:
    live.stop()
    idle.stop()
done()
