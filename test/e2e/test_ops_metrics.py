"""Operations: /metrics, /healthz, /readyz, SIGHUP reload and SIGTERM of
`lagscale run --dry-run` against the real broker.

A scrape shows the lag Kafka itself reports (ConsumerGroupCommand), per
scaler and per partition, and the replicas the decisions printed; SIGHUP
with a valid changed config applies it (a removed scaler's series vanish,
an unchanged scaler keeps its history), with an invalid one the running
config goes on; SIGTERM ends the process within 2 s.

Every check waits for the state it asserts (a busy machine makes rounds
late, never wrong): no assertion depends on which side of a round a write
lands, and the setup writes all precede lagscale's start."""
import os
import re
import signal
import socket
import threading
import time
import urllib.error
import urllib.request

from e2e import (KAFKA, LAGSCALE, Proc, check, free_port, commit, create_topic, describe_group, done,
                 json_lines, produce, uid, write_config)

CONTRACT = ["lagscale_lag_messages", "lagscale_partition_lag_messages", "lagscale_lag_seconds",
            "lagscale_produce_rate", "lagscale_consume_rate", "lagscale_replicas_current",
            "lagscale_replicas_recommended", "lagscale_replicas_desired",
            "lagscale_scale_events_total", "lagscale_errors_total",
            "lagscale_collect_duration_seconds", "lagscale_scaler_active",
            "lagscale_fallback_active", "lagscale_hot_partitions", "lagscale_is_leader",
            "lagscale_build_info", "lagscale_partition_series_dropped_total",
            "lagscale_partition_committed_offset", "lagscale_partition_end_offset",
            "lagscale_scaler_paused", "process_cpu_seconds_total",
            "process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds",
            "process_max_fds", "process_start_time_seconds"]


def get(port, path):
    """(status, body) of GET http://127.0.0.1:port/path; (None, error) if down."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError, socket.timeout) as e:
        return None, str(e)


def thread_policies(pid):
    """{"comm/tid": scheduling policy} of the process's threads."""
    policies = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                policies[f.read().strip() + "/" + tid] = os.sched_getscheduler(int(tid))
        except OSError:
            pass  # a thread that ended meanwhile
    return policies


LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels)): value} and the set of TYPE'd families."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        if not line or line.startswith("#"):
            continue
        key, value = line.rsplit(" ", 1)
        if "{" in key:
            name, rest = key.split("{", 1)
            labels = frozenset(LABEL.findall(rest[:-1]))
        else:
            name, labels = key, frozenset()
        samples[(name, labels)] = float(value)
    return samples, types


def value(samples, name, **labels):
    want = set(labels.items())
    for (n, ls), v in samples.items():
        if n == name and want <= set(ls):
            return v
    return None


def rounds(samples):
    """Collection rounds of cluster "main" so far (0 before the first)."""
    return value(samples, "lagscale_collect_duration_seconds_count", cluster="main") or 0


def series_of(samples, scaler):
    return [k for k in samples if ("scaler", scaler) in k[1]]


def scrape(port):
    status, body = get(port, "/metrics")
    return parse(body if status == 200 else "")[0]


def wait_metrics(port, pred, timeout=60):
    end = time.time() + timeout
    while True:
        s = scrape(port)
        if pred(s) or time.time() > end:
            return s
        time.sleep(0.3)


# Three scalers: "orders" (3 partitions, lag 70 + 0 + 0), "billing"
# (4 partitions, 125 each) and "keep" (1 partition, lag 20), all at one
# replica per 50 messages of lag. partitionAware is off: orders has all its
# lag on one partition, which partition-aware decisions rightly leave to one
# replica; these checks are about the series, with counts set by the lag.
t_orders, g_orders = uid("ops-orders"), uid("g-ops-orders")
t_billing, g_billing = uid("ops-billing"), uid("g-ops-billing")
t_keep, g_keep = uid("ops-keep"), uid("g-ops-keep")
create_topic(t_orders, 3)
create_topic(t_billing, 4)
create_topic(t_keep, 1)
produce(t_orders, 100, 0)
produce(t_orders, 40, 1)
commit(g_orders, (t_orders, 0, 30), (t_orders, 1, 40), (t_orders, 2, 0))
for p in range(4):
    produce(t_billing, 125, p)
commit(g_billing, *[(t_billing, p, 0) for p in range(4)])
produce(t_keep, 20, 0)
commit(g_keep, (t_keep, 0, 0))

port = free_port()


def scaler(name, topic, group, threshold=50, ns="shop"):
    return """
  - name: %s
    target: {apiVersion: apps/v1, kind: Deployment, namespace: %s, name: %s-consumer}
    kafka: {cluster: main, group: %s, topics: [%s]}
    policy: {lagThreshold: %d, pollingInterval: 1s, maxReplicas: 10, partitionAware: false}
""" % (name, ns, name, group, topic, threshold)


def config(*scalers):
    return """
kafka:
  clusters:
    - name: main
      bootstrapServers: "%s"
server: {address: "127.0.0.1:%d"}
metrics: {partitionSeries: true}
log: {format: json, level: info}
scalers:%s""" % (KAFKA, port, "".join(scalers))


path = write_config(config(scaler("orders", t_orders, g_orders),
                           scaler("billing", t_billing, g_billing),
                           scaler("keep", t_keep, g_keep)))
proc = Proc([LAGSCALE, "run", "--config", path, "--dry-run", "--output", "json"])
try:
    # Ready after the first round; healthy all along.
    end = time.time() + 60
    status = None
    while time.time() < end:
        status, _ = get(port, "/readyz")
        if status == 200:
            break
        time.sleep(0.2)
    check(status == 200, "/readyz is 200 after the first round", "got %s" % status)
    status, body = get(port, "/healthz")
    check(status == 200, "/healthz is 200 while the loop runs", "%s %s" % (status, body))
    status, _ = get(port, "/nope")
    check(status == 404, "unknown paths are 404", str(status))

    # Every thread (lagscale's, the server's, librdkafka's) runs under
    # SCHED_BATCH, set before the first was made.
    policies = thread_policies(proc.p.pid)
    check(len(policies) > 3 and all(v == os.SCHED_BATCH for v in policies.values()),
          "every thread of lagscale run is under SCHED_BATCH", str(policies))

    # Let the decisions settle (billing 500 / 50 = 10, capped at 4
    # partitions) and every scaler's rates appear (from its second good
    # read on: a read that failed on a busy machine delays them).
    def settled(s):
        return (value(s, "lagscale_replicas_desired", scaler="billing") == 4 and
                value(s, "lagscale_replicas_desired", scaler="orders") == 2 and
                all(value(s, "lagscale_%s_rate" % r, scaler=sc) is not None
                    for r in ("produce", "consume") for sc in ("orders", "billing", "keep")))

    samples = wait_metrics(port, settled)
    check(settled(samples), "decisions settled and rates present", str(
        [(k, v) for k, v in samples.items() if k[0].endswith("_rate")]))
    status, text = get(port, "/metrics")
    samples, types = parse(text)
    for name in CONTRACT:
        check(name in types, "TYPE line for %s" % name)
    check(types.get("lagscale_scale_events_total") == "counter" and
          types.get("lagscale_collect_duration_seconds") == "histogram" and
          types.get("lagscale_lag_messages") == "gauge", "metric types")
    check(text.count("# HELP ") == len(types), "one HELP per family")

    # The lag per partition is the lag Kafka's own tool reports.
    for sc, topic, group in (("orders", t_orders, g_orders), ("billing", t_billing, g_billing)):
        rows, p = describe_group(group)
        check(len(rows) > 0, "Kafka describes group %s" % group, p.stderr)
        total = 0
        for (t, part), (cur, end_off, lag) in sorted(rows.items()):
            got = value(samples, "lagscale_partition_lag_messages", scaler=sc, topic=t,
                        partition=str(part))
            check(got == lag, "%s %s[%d]: partition lag %s as Kafka says" % (sc, t, part, got),
                  "Kafka says %s" % lag)
            total += lag or 0
        check(value(samples, "lagscale_lag_messages", scaler=sc) == total,
              "%s: total lag %d as Kafka says" % (sc, total),
              str(value(samples, "lagscale_lag_messages", scaler=sc)))
    check(value(samples, "lagscale_lag_messages", scaler="orders", namespace="shop",
                target="Deployment/orders-consumer") == 70, "labels scaler/namespace/target")

    def decisions_so_far():
        """The decisions printed so far (whole lines only)."""
        out = proc.stdout()
        return json_lines(out[:out.rfind("\n") + 1])

    # The replicas the metrics show are the ones the decisions printed.
    decisions = decisions_so_far()
    for sc, want in (("orders", 2), ("billing", 4)):
        last = [d for d in decisions if d["scaler"] == sc][-1]
        got = value(samples, "lagscale_replicas_desired", scaler=sc)
        check(got == want == last["desiredReplicas"],
              "%s: replicas desired %s = the last decision's" % (sc, got),
              "decision %s" % last)
        check(value(samples, "lagscale_replicas_recommended", scaler=sc) ==
              last["recommendedReplicas"], "%s: recommended as decided" % sc)
        check(value(samples, "lagscale_replicas_current", scaler=sc) is not None,
              "%s: replicas current present" % sc)
        ups = value(samples, "lagscale_scale_events_total", scaler=sc, direction="up")
        check(ups is not None and ups >= 1, "%s: the scale-up was counted" % sc, str(ups))
    # Every write to these topics and groups was done before lagscale
    # started: whichever rounds the rates span, nothing moved in them.
    for sc in ("orders", "billing"):
        check(value(samples, "lagscale_produce_rate", scaler=sc) == 0 and
              value(samples, "lagscale_consume_rate", scaler=sc) == 0,
              "%s rates: nothing produced or consumed while lagscale watched" % sc,
              "produce %s, consume %s" % (value(samples, "lagscale_produce_rate", scaler=sc),
                                          value(samples, "lagscale_consume_rate", scaler=sc)))
    check(value(samples, "lagscale_scaler_active", scaler="orders") == 1, "orders is active")
    # Only failed reads count as errors, each once, as "collect" (or as
    # "group_not_found"): the counters sum to the decisions that report a
    # failed read. (On an idle machine all are 0; on a busy one a round can
    # outlive its deadline, one polling interval.)
    def failed_reads(sc):
        return sum(1 for d in decisions_so_far() if d["scaler"] == sc and
                   ("lag read failed" in d["reason"] or "failed lag reads" in d["reason"]))

    def read_errors(s):
        """collect (always there) plus group_not_found (once counted)."""
        e = value(s, "lagscale_errors_total", scaler="orders", stage="collect")
        g = value(s, "lagscale_errors_total", scaler="orders", stage="group_not_found")
        return None if e is None else e + (g or 0)

    def errors_match(s):
        return read_errors(s) is not None and read_errors(s) == failed_reads("orders")

    s = wait_metrics(port, errors_match)
    check(errors_match(s), "read errors are the failed reads, and only them",
          "%s counted, %d decisions say so" % (read_errors(s), failed_reads("orders")))
    print("# orders: %d failed reads" % failed_reads("orders"))
    check(value(samples, "lagscale_collect_duration_seconds_count", cluster="main") >= 1,
          "collect duration observed per cluster")
    check(value(samples, "lagscale_is_leader") == 1, "is_leader 1 without leader election")

    # Message age: nothing new is produced, so the oldest unconsumed message
    # of "keep" is at least as old as lagscale's first sample, and growing
    # with the rounds (however late they come).
    s1 = value(scrape(port), "lagscale_lag_seconds", scaler="keep")
    s = wait_metrics(port, lambda s: s1 is not None and
                     (value(s, "lagscale_lag_seconds", scaler="keep") or 0) >= s1 + 1.5)
    s2 = value(s, "lagscale_lag_seconds", scaler="keep")
    check(s1 is not None and s2 is not None and s2 >= s1 + 1.5,
          "lag seconds grow while the group does not consume", "%s then %s" % (s1, s2))
    # New messages behind a consumer that catches up: no lag, 0 seconds
    # (both series of one round: wait for the round to be whole).
    commit(g_keep, (t_keep, 0, 20))
    s = wait_metrics(port, lambda s: value(s, "lagscale_lag_messages", scaler="keep") == 0 and
                     value(s, "lagscale_lag_seconds", scaler="keep") == 0)
    check(value(s, "lagscale_lag_messages", scaler="keep") == 0 and
          value(s, "lagscale_lag_seconds", scaler="keep") == 0, "no lag: 0 seconds",
          str(value(s, "lagscale_lag_seconds", scaler="keep")))
    commit(g_keep, (t_keep, 0, 0))
    s = wait_metrics(port, lambda s: value(s, "lagscale_lag_messages", scaler="keep") == 20)
    # One more whole round, so the lag seconds are those of the lag 20.
    r = rounds(s)
    s = wait_metrics(port, lambda s: rounds(s) >= r + 1)
    check(value(s, "lagscale_lag_messages", scaler="keep") == 20, "lag again: 20 messages")
    keep_before = value(s, "lagscale_lag_seconds", scaler="keep")
    keep_ups = rounds(s)

    # SIGHUP with a valid changed config: billing removed, orders changed
    # (lagThreshold 20: 70 / 20 = 4, capped at 3 partitions), keep unchanged.
    with open(path, "w") as f:
        f.write(config(scaler("orders", t_orders, g_orders, threshold=20),
                       scaler("keep", t_keep, g_keep)))
    proc.p.send_signal(signal.SIGHUP)
    s = wait_metrics(port, lambda s: not series_of(s, "billing") and
                     value(s, "lagscale_replicas_recommended", scaler="orders") == 3)
    check(not series_of(s, "billing"), "reload: the removed scaler's series are gone",
          str(series_of(s, "billing")[:3]))
    check(value(s, "lagscale_replicas_recommended", scaler="orders") == 3,
          "reload: the changed scaler decides with its new threshold")
    check(value(s, "lagscale_lag_seconds", scaler="keep") >= keep_before,
          "reload: the unchanged scaler kept its lag history",
          "%s < %s" % (value(s, "lagscale_lag_seconds", scaler="keep"), keep_before))
    check(rounds(s) >= keep_ups,
          "reload: the unchanged cluster kept its client and series")
    check('reloaded \\"%s\\"' % path in proc.stderr(), "reload: logged",
          proc.stderr()[-800:])

    # SIGHUP with an invalid config: logged with its error, the old one runs on.
    with open(path, "w") as f:
        f.write(config(scaler("orders", t_orders, g_orders, threshold=0)))
    proc.p.send_signal(signal.SIGHUP)
    end = time.time() + 60
    while time.time() < end and "is not valid" not in proc.stderr():
        time.sleep(0.2)
    err = proc.stderr()
    check("is not valid" in err and "lagThreshold" in err,
          "invalid reload: logged with the error's place", err[-800:])
    # Still running: two more rounds finish after the refused reload.
    before = rounds(scrape(port))
    s = wait_metrics(port, lambda s: rounds(s) >= before + 2 or proc.p.poll() is not None)
    check(proc.p.poll() is None and rounds(s) >= before + 2,
          "invalid reload: still running, rounds go on", "%s -> %s" % (before, rounds(s)))
    check(value(s, "lagscale_replicas_recommended", scaler="keep") is not None and
          value(s, "lagscale_replicas_recommended", scaler="orders") == 3,
          "invalid reload: the previous config goes on")
    check(get(port, "/healthz")[0] == 200, "invalid reload: still healthy")

    # SIGHUP with two scalers owning one Deployment: refused, naming both
    # places; the running configuration goes on.
    with open(path, "w") as f:
        f.write(config(scaler("orders", t_orders, g_orders, threshold=20),
                       scaler("keep", t_keep, g_keep),
                       scaler("orders-too", t_orders, g_orders).replace(
                           "orders-too-consumer", "orders-consumer")))
    mark = len(proc.stderr())
    proc.p.send_signal(signal.SIGHUP)
    end = time.time() + 60
    while time.time() < end and "is not valid" not in proc.stderr()[mark:]:
        time.sleep(0.2)
    err = proc.stderr()[mark:]
    check("is not valid" in err and
          "scalers[2].target: shop/Deployment/orders-consumer is already the target of "
          'scaler \\"orders\\" at %s:' % path in err,
          "second owner: the reload is refused, naming both places", err[-800:])
    check(proc.p.poll() is None, "second owner: still running")
    s = scrape(port)
    check(value(s, "lagscale_replicas_recommended", scaler="orders") == 3 and
          not series_of(s, "orders-too"), "second owner: the previous config goes on")

    # SIGTERM: out within 2 s, the port closed.
    t0 = time.time()
    proc.p.send_signal(signal.SIGTERM)
    try:
        rc = proc.p.wait(5)
    except Exception:
        rc = None
    took = time.time() - t0
    check(rc == 0 and took < 2.0, "SIGTERM: exit 0 within 2 s", "rc %s after %.2f s" % (rc, took))
    check(get(port, "/metrics")[0] is None, "SIGTERM: the metrics server is closed")
    print("# SIGTERM to exit: %.3f s" % took)
finally:
    proc.stop()
    os.unlink(path)

# /healthz turns 503 when the loop has finished no round in three polling
# intervals (3 s here). SIGSTOP freezes the loop (and the HTTP thread); a
# request sent while frozen is answered first thing after SIGCONT, before
# the loop can finish a round, so it sees the stale tick.
port = free_port()
path = write_config(config(scaler("keep", t_keep, g_keep)))
proc = Proc([LAGSCALE, "run", "--config", path, "--dry-run"])
try:
    end = time.time() + 60
    while time.time() < end and get(port, "/readyz")[0] != 200:
        time.sleep(0.2)
    got = []
    for attempt in range(5):
        os.kill(proc.p.pid, signal.SIGSTOP)
        time.sleep(4)
        box = []
        th = threading.Thread(target=lambda: box.append(get(port, "/healthz")))
        th.start()
        time.sleep(0.3)
        os.kill(proc.p.pid, signal.SIGCONT)
        th.join(10)
        got.append(box[0] if box else None)
        if box and box[0][0] == 503:
            break
    check(any(g and g[0] == 503 and "stale" in g[1] for g in got),
          "/healthz 503 when no round finished in 3 polling intervals", str(got))
    end = time.time() + 60
    while time.time() < end and get(port, "/healthz")[0] != 200:
        time.sleep(0.2)
    check(get(port, "/healthz")[0] == 200, "/healthz 200 again once rounds finish")
finally:
    proc.stop()
    os.unlink(path)

# A broker that accepts connections and never answers: every read fails
# and is counted as errors{stage="collect"}; the loop goes on.
port = free_port()
blackhole = socket.socket()
blackhole.bind(("127.0.0.1", 0))
blackhole.listen(16)
path = write_config("""
kafka:
  clusters:
    - name: dead
      bootstrapServers: "127.0.0.1:%d"
server: {address: "127.0.0.1:%d"}
scalers:
  - name: stuck
    target: {apiVersion: apps/v1, kind: Deployment, namespace: shop, name: stuck}
    kafka: {cluster: dead, group: g, topics: [t]}
    policy: {pollingInterval: 1s}
""" % (blackhole.getsockname()[1], port))
# Started under a policy of its own choosing (here SCHED_IDLE), lagscale
# keeps it.
proc = Proc(["chrt", "--idle", "0", LAGSCALE, "run", "--config", path, "--dry-run"])
try:
    s = wait_metrics(port, lambda s: (value(s, "lagscale_errors_total", scaler="stuck",
                                            stage="collect") or 0) >= 2)
    policies = thread_policies(proc.p.pid)
    check(len(policies) > 3 and all(v == os.SCHED_IDLE for v in policies.values()),
          "started under SCHED_IDLE, every thread stays under it", str(policies))
    check((value(s, "lagscale_errors_total", scaler="stuck", stage="collect") or 0) >= 2,
          "failed reads count as errors{stage=\"collect\"}")
    check(value(s, "lagscale_lag_messages", scaler="stuck") is None,
          "an unknown lag is not reported as 0")
    check(get(port, "/healthz")[0] == 200, "failing rounds still finish: healthy")
finally:
    proc.stop()
    blackhole.close()
    os.unlink(path)

done()
