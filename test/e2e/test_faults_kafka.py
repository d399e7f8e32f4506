"""The broker half of the fault matrix (issue 15), on a three-broker KRaft
cluster that this test brings up in an instance of its own (the runner's
instance name + "-kraft3", port offset the runner's + 50) and takes down at
the end.

1. Rolling restart, the group coordinator first: `lagscale run --dry-run`
   reads a constant lag (no producer, no consumer) every second while each
   broker in turn is stopped (SIGTERM, controlled shutdown) and started
   again, waiting for full ISRs between brokers as an operator would. Every
   decision line of the whole roll is either the true lag, or an error /
   fallback with a null lag: never another number (a partition read as
   missing is never lag 0), never a scale-down (or up), the replicas held.
   With one broker of three down the reads continue: each broker's downtime
   has decisions with the true lag.
2. A broker that accepts TCP and never answers (a listening socket that
   never reads or writes, in place of a stopped broker, as its only
   bootstrap server): every round ends at lagscale's round deadline
   (min(pollingInterval, 10 s), far below librdkafka's socket.timeout.ms of
   60 s) with an error decision and a null lag; the next round retries on a
   new connection; once the real broker is back on the port, the next
   rounds read the lag.
3. A bootstrap list whose first entry is such a black hole: the lag is read
   through the other entry.
"""
import os
import re
import socket
import subprocess
import threading
import time

from e2e import LAGSCALE, KAFKA_TOOL, Proc, check, done, json_lines, run, uid, write_config

ENV_CMD = os.environ["LAGSCALE_E2E_ENV"]
PARTS, PER_PART, COMMITTED = 6, 100, 40
LAG = PARTS * (PER_PART - COMMITTED)


def kraft3_env():
    """The variables of the three-broker instance: its own name and ports,
    derived from the runner's so that instances running side by side do
    not collide."""
    env = dict(os.environ)
    env["LAGSCALE_E2E_INSTANCE"] = (os.environ.get("LAGSCALE_E2E_INSTANCE") or "default") + "-kraft3"
    env["LAGSCALE_E2E_PORT_OFFSET"] = str(int(os.environ.get("LAGSCALE_E2E_PORT_OFFSET") or 0) + 50)
    env["LAGSCALE_E2E_KAFKA_ONLY"] = "1"
    env["LAGSCALE_E2E_KAFKA_BROKERS"] = "3"
    for k in list(env):
        # the runner's own ports must not leak into the other instance
        if re.fullmatch(r"LAGSCALE_E2E_\w+_PORT", k):
            del env[k]
    return env


ENV3 = kraft3_env()


def env3(*args, timeout=300):
    p = subprocess.run([ENV_CMD] + list(args), env=ENV3, capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        # What the environment said, before the traceback.
        print("env %s: exit %d\n%s" % (" ".join(args), p.returncode, p.stderr[-4000:]))
        p.check_returncode()
    return p


def load_env(path):
    p = subprocess.run(["bash", "-c", '. "$0" && env -0', path], check=True,
                       capture_output=True, text=True)
    return dict(kv.split("=", 1) for kv in p.stdout.split("\0") if "=" in kv)


def kcat_metadata(bootstrap):
    """{topic: {partition: (leader, replicas, isrs)}} and the broker ids."""
    p = run([os.environ["LAGSCALE_E2E_KCAT"], "-L", "-b", bootstrap, "-m", "5"], timeout=30,
            check_rc=False)
    topics, brokers, cur = {}, set(), None
    for line in p.stdout.splitlines():
        m = re.match(r'\s+broker (\d+) at ', line)
        if m:
            brokers.add(int(m.group(1)))
        m = re.match(r'\s+topic "([^"]+)" with', line)
        if m:
            cur = topics.setdefault(m.group(1), {})
        m = re.match(r'\s+partition (\d+), leader (-?\d+), replicas: ([\d,]*), isrs: ([\d,]*)', line)
        if m and cur is not None:
            ids = lambda s: sorted(int(x) for x in s.split(",") if x)
            cur[int(m.group(1))] = (int(m.group(2)), ids(m.group(3)), ids(m.group(4)))
    return topics, brokers


def wait_until(pred, timeout, step=0.5):
    end = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() > end:
            return v
        time.sleep(step)


def fully_replicated(bootstrap, topics):
    md, brokers = kcat_metadata(bootstrap)
    if len(brokers) != 3:
        return False
    for t in topics:
        if t not in md or not md[t]:
            return False
        for leader, replicas, isrs in md[t].values():
            if leader < 0 or len(replicas) != 3 or isrs != replicas:
                return False
    return True


def coordinator(bootstrap, group):
    """The node id coordinating the group, as Kafka's own tool says."""
    cp = os.environ["LAGSCALE_E2E_KAFKA_CLASSPATH"]
    p = run(["java", "-cp", cp, "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
             "--bootstrap-server", bootstrap, "--describe", "--group", group, "--state"],
            timeout=120, check_rc=False)
    m = re.search(r"127\.0\.0\.1:\d+\s+\((\d+)\)", p.stdout)
    return int(m.group(1)) if m else None


class Decisions:
    """The decision lines of a `lagscale run`, each with the monotonic time
    the test saw it (polled every 50 ms)."""

    def __init__(self, proc):
        self.proc, self.seen, self.lock = proc, [], threading.Lock()
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._poll, daemon=True)
        self.t.start()

    def _poll(self):
        n = 0
        while not self.stop_ev.is_set():
            lines = json_lines(self.proc.stdout())
            now = time.monotonic()
            with self.lock:
                for d in lines[n:]:
                    self.seen.append((now, d))
            n = len(lines)
            time.sleep(0.05)

    def all(self):
        with self.lock:
            return list(self.seen)

    def count(self):
        with self.lock:
            return len(self.seen)

    def wait(self, pred, timeout, start=0):
        """Waits until pred(decision) holds for a decision from index start on."""
        return wait_until(lambda: any(pred(d) for _, d in self.all()[start:]), timeout, 0.1)

    def close(self):
        self.stop_ev.set()
        self.t.join()


class BlackHole:
    """A listening socket that accepts connections and never reads or
    writes: a broker that hangs. Counts the connections it accepted."""

    def __init__(self, port=0):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns, self.closed = [], False
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        if self.closed:
            return
        self.closed = True
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.t.join(10)
        for c in self.conns:
            c.close()


def config(bootstrap, group, topic, interval, failure_threshold=1000):
    return write_config("""
kafka: {clusters: [{name: k, bootstrapServers: "%s"}]}
server: {address: "127.0.0.1:0"}
scalers:
  - name: faults
    target: {apiVersion: apps/v1, kind: Deployment, namespace: default, name: c}
    kafka: {group: %s, topics: [%s]}
    policy:
      lagThreshold: %d
      pollingInterval: %s
      maxReplicas: 12
      behavior:
        scaleDown: {stabilizationWindow: 0s, policies: [{type: Percent, value: 100, period: 1s}]}
      fallback: {failureThreshold: %d}
""" % (bootstrap, group, topic, LAG // PARTS, interval, failure_threshold))


def good(d):
    return d["action"] == "none" and d["totalLag"] == LAG and d["partitionCount"] == PARTS


def failed(d):
    return d["action"] in ("error", "fallback")


procs = []
try:
    t0 = time.monotonic()
    try:
        up = env3("up")
    except subprocess.CalledProcessError:
        # Once in a full run its `up` failed within 3 s, cause not kept;
        # what env said is printed above. One more try, after a `down`.
        env3("down")
        up = env3("up")
    envfile = up.stdout.strip().splitlines()[-1]
    print("# three brokers up in %.1f s" % (time.monotonic() - t0))
    E3 = load_env(envfile)
    BOOT = E3["LAGSCALE_E2E_KAFKA"]
    NODES = {n: E3["LAGSCALE_E2E_KAFKA_NODE_%d" % n] for n in (1, 2, 3)}
    topic, group = uid("faults"), uid("g-faults")
    cp = os.environ["LAGSCALE_E2E_KAFKA_CLASSPATH"]
    run(["java", "-cp", cp, "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", BOOT,
         "--create", "--topic", topic, "--partitions", str(PARTS), "--replication-factor", "3"],
        timeout=120)
    for p in range(PARTS):
        run([KAFKA_TOOL, "produce", "-b", BOOT, "-t", topic, "-p", str(p), "-n", str(PER_PART)],
            timeout=120)
    # The first commit of a fresh cluster creates __consumer_offsets: its
    # coordinators may answer NOT_COORDINATOR until their partitions are led.
    commit = [KAFKA_TOOL, "commit", "-b", BOOT, "-g", group] + [
        "%s:%d:%d" % (topic, p, COMMITTED) for p in range(PARTS)]
    check(wait_until(lambda: run(commit, timeout=120, check_rc=False).returncode == 0, 120),
          "the group's offsets are committed")
    check(wait_until(lambda: fully_replicated(BOOT, [topic, "__consumer_offsets"]), 120),
          "the topic and __consumer_offsets have three in-sync replicas")

    # --- 1. rolling restart, the coordinator first -----------------------------
    cfg = config(BOOT, group, topic, "1s", failure_threshold=3)
    lag_run = Proc([LAGSCALE, "run", "--config", cfg, "--dry-run", "--output", "json",
                    "--assume-replicas", str(PARTS)])
    procs.append(lag_run)
    ds = Decisions(lag_run)
    check(ds.wait(good, 30), "reads the lag before the roll",
          lag_run.stdout()[-1000:] + lag_run.stderr()[-1000:])
    coord = coordinator(BOOT, group)
    check(coord in (1, 2, 3), "Kafka names the group's coordinator", str(coord))
    order = [coord] + [n for n in (1, 2, 3) if n != coord] if coord else [1, 2, 3]
    coords = [coord]
    for node in order:
        down_at = ds.count()
        env3("kafka-stop", str(node))
        print("# node %d stopped (%d decisions so far)" % (node, down_at))
        # Reads continue with one broker of three down: wait for a true
        # read made after the stop (two, so the first is not a round that
        # began before it).
        ok = ds.wait(lambda d: good(d), 60, start=ds.count() + 1)
        check(ok, "the lag is read while node %d is down" % node,
              str([d["action"] for _, d in ds.all()[down_at:]][-20:]))
        env3("kafka-start", str(node))
        check(wait_until(lambda: fully_replicated(BOOT, [topic, "__consumer_offsets"]), 120),
              "node %d back in every ISR" % node)
        coords.append(coordinator(BOOT, group))
        print("# node %d restarted; coordinator now %s" % (node, coords[-1]))
    check(ds.wait(good, 30, start=ds.count()), "reads the lag after the roll")
    ds.close()
    rc = lag_run.stop()
    check(rc == 0, "exits 0 on SIGTERM", "exit %s: %s" % (rc, lag_run.stderr()[-500:]))
    roll = [d for _, d in ds.all()]
    bad = [d for d in roll if not good(d) and not (failed(d) and d["totalLag"] is None)]
    check(not bad, "every decision of the roll is the true lag %d or an error with a null lag"
          % LAG, str(bad[:3]))
    check(all(d["desiredReplicas"] == PARTS for d in roll),
          "the replicas are held at %d through the roll" % PARTS,
          str([d["desiredReplicas"] for d in roll if d["desiredReplicas"] != PARTS][:5]))
    check(not any(d["action"] in ("scale_down", "deactivate", "scale_up") for d in roll),
          "no scaling from the roll")
    print("# roll: %d decisions, %d true reads, %d errors, %d fallbacks; coordinators %s" % (
        len(roll), sum(good(d) for d in roll), sum(d["action"] == "error" for d in roll),
        sum(d["action"] == "fallback" for d in roll), coords))

    # --- 2. a black hole in place of a broker, then the broker back ------------
    interval = 3.0          # the round deadline is min(pollingInterval, 10 s)
    margin = 4.0            # a busy machine; librdkafka's socket.timeout.ms is 60 s
    node = 3
    env3("kafka-stop", str(node))
    hole = BlackHole(int(NODES[node].rsplit(":", 1)[1]))
    cfg = config(NODES[node], group, topic, "3s", failure_threshold=3)
    started = time.monotonic()
    hole_run = Proc([LAGSCALE, "run", "--config", cfg, "--dry-run", "--output", "json",
                     "--assume-replicas", str(PARTS)])
    procs.append(hole_run)
    ds = Decisions(hole_run)
    check(ds.wait(lambda d: d["action"] == "fallback", 6 * interval + 20),
          "rounds against the black hole end in errors, then fallback",
          hole_run.stdout()[-1500:] + hole_run.stderr()[-1000:])
    seen = ds.all()
    check(seen and seen[0][0] - started <= interval + margin + 2,
          "the first round ends within its deadline (%.0f s) + margin" % interval,
          "first decision after %.1f s" % (seen[0][0] - started if seen else -1))
    gaps = [b[0] - a[0] for a, b in zip(seen, seen[1:])]
    check(gaps and max(gaps) <= interval + margin,
          "each later round ends within the polling interval + margin", str(gaps))
    check(all(failed(d) and d["totalLag"] is None for _, d in seen),
          "a hung broker's rounds are errors with a null lag, never 0",
          str([(d["action"], d["totalLag"]) for _, d in seen]))
    check(all(NODES[node] in d["reason"] and "no answer" in d["reason"]
              for _, d in seen if d["action"] == "error"),
          "the error names the bootstrap server and says it did not answer",
          str([d["reason"] for _, d in seen][:2]))
    # After three rounds in a row without a metadata answer the client is
    # made again (lib/kafka: LS_KAFKA_RECREATE_AFTER), on a new connection:
    # by the fourth or fifth round, whichever the fallback was seen in.
    check(wait_until(lambda: len(hole.conns) >= 2, 3 * (interval + margin)),
          "after three silent rounds the client retries on a new connection",
          "%d connections" % len(hole.conns))
    check(all(d["desiredReplicas"] == PARTS for _, d in seen), "the replicas are held")
    hole.close()
    env3("kafka-start", str(node))
    back = time.monotonic()
    n = ds.count()
    check(ds.wait(good, 4 * interval + 20, start=n), "the lag is read once the broker is back",
          hole_run.stdout()[-1000:])
    took = next((t for t, d in ds.all()[n:] if good(d)), None)
    print("# black hole: %d rounds, gaps %s; lag read %.1f s after the broker was back" % (
        len(seen), ["%.1f" % g for g in gaps], (took or 0) - back))
    check(took is not None and took - back <= 2 * interval + margin,
          "recovered within two polling intervals + margin")
    ds.close()
    hole_run.stop()
    check(wait_until(lambda: fully_replicated(BOOT, [topic]), 120), "node 3 back in the ISRs")

    # --- 3. a black hole first in the bootstrap list -----------------------------
    hole = BlackHole()
    cfg = config("127.0.0.1:%d,%s" % (hole.port, NODES[1]), group, topic, "2s")
    list_run = Proc([LAGSCALE, "run", "--config", cfg, "--dry-run", "--output", "json",
                     "--assume-replicas", str(PARTS)])
    procs.append(list_run)
    ds = Decisions(list_run)
    check(ds.wait(good, 40), "a black hole in the bootstrap list: the lag is read through "
          "the other entry", list_run.stdout()[-1500:])
    ds.close()
    list_run.stop()
    hole.close()
    check(all(good(d) or (failed(d) and d["totalLag"] is None) for _, d in ds.all()),
          "never a lag other than the true one", str([d for _, d in ds.all()][:3]))
finally:
    for p in procs:
        p.stop()
    t0 = time.monotonic()
    subprocess.run([ENV_CMD, "down"], env=ENV3, capture_output=True, timeout=300)
    print("# three brokers down in %.1f s" % (time.monotonic() - t0))
done()
