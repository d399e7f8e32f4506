"""The closed loop's moving parts (not a test itself).

- ReplicaRunner: watches a Deployment's spec.replicas on the real API
  server (a watch, not polling) and keeps that many consumer processes
  running, as a kubelet would: new ones start after a startup delay,
  surplus ones are stopped gracefully (SIGTERM: commit, leave the group),
  the newest first.
- Producer: `kafka-tool curve`, producing along a scenario file's curve.
- Recorder: once a second, the lag as Kafka reports it, the replicas, the
  produce and consume rates and the age of the oldest unconsumed message,
  written as the simulator's CSV so series-tool can summarize and draw it.
"""
import json
import os
import signal
import ssl
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import e2e

APISERVER = os.environ.get("LAGSCALE_E2E_APISERVER", "")
KUBE_CA = os.environ.get("LAGSCALE_E2E_KUBE_CA", "")
ADMIN_TOKEN = os.environ.get("LAGSCALE_E2E_ADMIN_TOKEN", "")


class ReplicaRunner(threading.Thread):
    def __init__(self, ns, name, group, topic, rate, startup_delay):
        super().__init__(daemon=True)
        self.ns, self.name, self.group, self.topic = ns, name, group, topic
        self.rate, self.startup_delay = rate, startup_delay
        self.desired = None
        self.running = []  # Popen, oldest first
        self.pending = []  # start times of replicas not started yet
        self.lock = threading.Lock()
        self.stopping = False
        self.watch_events = 0

    def _watch(self):
        """Yields spec.replicas from a watch, reconnecting when it ends."""
        ctx = ssl.create_default_context(cafile=KUBE_CA)
        rv = ""
        while not self.stopping:
            q = {"watch": "1", "fieldSelector": "metadata.name=" + self.name,
                 "timeoutSeconds": "30", "allowWatchBookmarks": "false"}
            if rv:
                q["resourceVersion"] = rv
            url = "%s/apis/apps/v1/namespaces/%s/deployments?%s" % (
                APISERVER, self.ns, urllib.parse.urlencode(q))
            req = urllib.request.Request(url, headers={"Authorization": "Bearer " + ADMIN_TOKEN})
            try:
                with urllib.request.urlopen(req, context=ctx, timeout=60) as resp:
                    for line in resp:
                        ev = json.loads(line)
                        obj = ev.get("object", {})
                        if ev.get("type") == "ERROR":
                            rv = ""
                            break
                        rv = obj.get("metadata", {}).get("resourceVersion", rv)
                        if ev.get("type") in ("ADDED", "MODIFIED"):
                            self.watch_events += 1
                            yield obj.get("spec", {}).get("replicas", 0)
            except Exception:
                time.sleep(0.5)

    def _start_one(self):
        return subprocess.Popen([e2e.KAFKA_TOOL, "consume", "-b", e2e.KAFKA, "-g", self.group,
                                 "-t", self.topic, "--rate", str(self.rate)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def reconcile(self):
        with self.lock:
            if self.desired is None:
                return
            now = time.time()
            while self.pending and self.pending[0] <= now:
                self.pending.pop(0)
                self.running.append(self._start_one())
            have = len(self.running) + len(self.pending)
            if have < self.desired:
                self.pending += [now + self.startup_delay] * (self.desired - have)
            while len(self.running) + len(self.pending) > self.desired:
                if self.pending:
                    self.pending.pop()  # not started yet: cancel the newest
                else:
                    p = self.running.pop()
                    p.send_signal(signal.SIGTERM)

    def ready(self):
        with self.lock:
            return len(self.running)

    def run(self):
        ticker = threading.Thread(target=self._tick, daemon=True)
        ticker.start()
        for replicas in self._watch():
            with self.lock:
                self.desired = replicas
            self.reconcile()
            if self.stopping:
                break

    def _tick(self):
        while not self.stopping:
            self.reconcile()
            time.sleep(0.1)

    def stop(self):
        self.stopping = True
        with self.lock:
            procs, self.running, self.pending = self.running, [], []
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


class Producer:
    def __init__(self, topic, scenario):
        self.proc = e2e.Proc([e2e.KAFKA_TOOL, "curve", "-b", e2e.KAFKA, "-t", topic,
                              "--scenario", scenario])

    def samples(self):
        """[(seconds since its start, cumulative produced)]."""
        out = []
        for line in self.proc.stdout().splitlines():
            f = line.split()
            if len(f) == 2:
                out.append((float(f[0]), int(f[1])))
        return out

    def stop(self):
        return self.proc.stop()


def age_of_oldest(samples, consumed, now):
    """Seconds the message at position `consumed` has waited at `now`:
    it was produced when the cumulative count passed it (interpolated)."""
    if not samples or consumed >= samples[-1][1]:
        return 0.0
    prev = (0.0, 0)
    for t, n in samples:
        if n > consumed:
            t0, n0 = prev
            at = t0 + (t - t0) * (consumed - n0) / max(n - n0, 1)
            return max(now - at, 0.0)
        prev = (t, n)
    return 0.0


class Recorder(threading.Thread):
    """Samples once a second until stopped; rows as the simulator's CSV."""

    def __init__(self, run, start):
        super().__init__(daemon=True)
        self.run_ = run
        self.start_time = start
        self.rows = []
        self.stopping = False

    def run(self):
        r = self.run_
        last_lag, last_consumed, last_produced, last_t = 0, None, None, None
        seen_decisions = 0
        while not self.stopping:
            t = time.time() - self.start_time
            p = e2e.lagscale("lag", "--bootstrap-servers", e2e.KAFKA, "--group", r.group,
                             "--topic", r.topic, "--output", "json", "--timeout", "2s",
                             timeout=10)
            consumed = None
            if p.returncode == 0:
                j = json.loads(p.stdout)
                last_lag = j["totalLag"]
                consumed = sum(pp["committed"] or 0 for tt in j["topics"]
                               for pp in tt["partitions"])
            samples = r.producer.samples()
            produced = samples[-1][1] if samples else 0
            produce_rate = consume_rate = 0.0
            if last_t is not None and t > last_t:
                produce_rate = (produced - last_produced) / (t - last_t)
                if consumed is not None and last_consumed is not None:
                    consume_rate = max(consumed - last_consumed, 0) / (t - last_t)
            age = age_of_oldest(samples, consumed if consumed is not None else
                                (last_consumed or 0), t)
            decisions = e2e.json_lines(r.lagscale.stdout())
            new = decisions[seen_decisions:]
            seen_decisions = len(decisions)
            desired = new[-1]["desiredReplicas"] if new else (
                self.rows[-1][6] if self.rows else r.runner.desired or 0)
            action = next((d["action"] for d in reversed(new) if d["action"] != "none"),
                          new[-1]["action"] if new else "")
            self.rows.append((round(t, 2), produce_rate, consume_rate, last_lag, age,
                              r.runner.desired or 0, desired, action))
            last_t, last_produced = t, produced
            if consumed is not None:
                last_consumed = consumed
            time.sleep(max(0.0, 1.0 - (time.time() - self.start_time - t)))

    def write_csv(self, path, until=None):
        """The rows (those up to `until` seconds, when given) as CSV."""
        with open(path, "w") as f:
            f.write("time,produceRate,consumeRate,lag,lagSeconds,currentReplicas,"
                    "desiredReplicas,action\n")
            for row in self.rows:
                if until is None or row[0] <= until:
                    f.write("%g,%.3f,%.3f,%d,%.3f,%d,%d,%s\n" % row)


def policy_block(scenario_path):
    """The scenario's `scaler: policy:` block, re-indented for a config."""
    lines = open(scenario_path).read().splitlines()
    i = lines.index("scaler:")
    body = [l for l in lines[i + 1:] if l.strip()]
    return "\n".join("  " + l for l in body)
