#!/usr/bin/env python3
"""The fleet benchmark behind scripts/bench: `lagscale run` with N scalers
x P partitions, measured from outside the process.

Kafka side: the mock cluster (mock-fleet), `lagscale run --dry-run` with no
Kubernetes cluster. Prints the first round, the steady-state round (the
collect-duration histogram of lagscale's own /metrics), CPU seconds per
polling interval (from /proc, steady state and again after --soak minutes),
peak and steady RSS, and the Kafka requests per round as the mock cluster
counted them.

Kubernetes side (--kubeconfig): the same run against a real kube-apiserver
with N Deployments in one namespace (made here, deleted at the end), counting
the API server's own apiserver_request_total per round.

Prints one line of results per run as `key=value` pairs (and a JSON line
with --json); scripts/bench collects them into the table. Figures only:
nothing is asserted.
"""
import argparse
import concurrent.futures
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

TICKS = os.sysconf("SC_CLK_TCK")


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Mock:
    """mock-fleet in a child process."""

    def __init__(self, exe, groups, partitions, args=()):
        self.p = subprocess.Popen([exe, "--groups", str(groups), "--partitions",
                                   str(partitions)] + list(args), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        self.bootstrap = self.p.stdout.readline().strip()
        if not self.bootstrap:
            raise SystemExit("bench: mock-fleet did not start")
        self.lock = threading.Lock()

    def command(self, line):
        """Sends one command line (see mock-fleet.c) and returns its answer."""
        with self.lock:
            self.p.stdin.write(line + "\n")
            self.p.stdin.flush()
            return self.p.stdout.readline().strip()

    def requests(self):
        """Requests since the previous call: (total, {api_key: count})."""
        fields = self.command("").split()
        counts = {}
        for f in fields[1:]:
            k, v = f.split(":")
            counts[int(k)] = int(v)
        return int(fields[0]), counts

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=60)


def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def proc_rss(pid):
    """(VmRSS, VmHWM) in MB."""
    rss = hwm = 0.0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    return rss, hwm


def scrape(port):
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=60) as r:
        return r.read().decode()


def metric_sum(text, name, labels=None):
    """The sum of every sample of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if not m or m.group(1) != name:
            continue
        if labels:
            lbl = m.group(2) or ""
            if not all('%s="%s"' % (k, v) in lbl for k, v in labels.items()):
                continue
        total += float(m.group(3))
    return total


def fleet_scalers(n):
    """The fleet's scalers for write_config: (name, group index, policy), the
    policy a flow mapping's inside ("" for the defaults)."""
    return [("s%05d" % g, g, "") for g in range(n)]


def write_config(path, n, bootstrap, port, interval, kubeconfig, namespace, scalers=None,
                 level="warn", defaults=""):
    """Writes the fleet's configuration: scalers (default fleet_scalers(n))
    on the cluster "fleet", each with a Deployment named after it;
    defaults: more keys of the default policy (a flow mapping's inside)."""
    if scalers is None:
        scalers = fleet_scalers(n)
    with open(path, "w") as f:
        f.write("kafka:\n  clusters:\n    - name: fleet\n      bootstrapServers: \"%s\"\n"
                % bootstrap)
        if kubeconfig:
            f.write("kubernetes: {kubeconfig: \"%s\"}\n" % kubeconfig)
        f.write("server: {address: \"127.0.0.1:%d\"}\n" % port)
        f.write("log: {level: %s}\n" % level)
        f.write("defaults:\n  policy: {lagThreshold: 1000, maxReplicas: 24, "
                "pollingInterval: %ds%s}\n" % (interval, ", " + defaults if defaults else ""))
        f.write("scalers:\n")
        for name, g, policy in scalers:
            f.write("  - name: %s\n    target: {apiVersion: apps/v1, kind: Deployment, namespace: %s, "
                    "name: d%s}\n"
                    "    kafka: {group: bench-group-%04d, topics: [bench-topic-%04d]}\n"
                    % (name, namespace, name.lstrip("s"), g, g))
            if policy:
                f.write("    policy: {%s}\n" % policy)


KUBECTL = os.environ.get("LAGSCALE_E2E_KUBECTL", "kubectl")


def kubectl(kubeconfig, *args, input=None, check=True):
    return subprocess.run([KUBECTL, "--kubeconfig", kubeconfig] + list(args), input=input,
                          text=True, capture_output=True, check=check)


def make_deployments(kubeconfig, namespace, n):
    """N Deployments d00000... in a namespace of its own, by several
    `kubectl create` of 500 at a time (kubectl sends one request per object,
    one after the other)."""
    # A namespace of its own each run: without kube-controller-manager
    # (no pods), a deleted namespace is never finalized.
    kubectl(kubeconfig, "create", "namespace", namespace)
    t0 = time.time()
    batch = 500

    def create(start):
        docs = []
        for g in range(start, min(n, start + batch)):
            docs.append({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "d%05d" % g, "namespace": namespace},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d%05d" % g}},
                         "template": {"metadata": {"labels": {"app": "d%05d" % g}},
                                      "spec": {"containers": [{"name": "c",
                                                               "image": "busybox"}]}}}})
        kubectl(kubeconfig, "create", "-f", "-",
                input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for f in [pool.submit(create, s) for s in range(0, n, batch)]:
            f.result()
    log("%d Deployments in %.0f s" % (n, time.time() - t0))


def delete_deployments(kubeconfig, namespace):
    """Deletes the run's Deployments, then its namespace. Without
    kube-controller-manager the namespace stays Terminating, but its
    Deployments are gone from etcd and the API server's watch cache."""
    t0 = time.time()
    kubectl(kubeconfig, "delete", "deployments", "--all", "-n", namespace, "--wait=false",
            check=False)
    kubectl(kubeconfig, "delete", "namespace", namespace, "--wait=false", check=False)
    log("Deployments deleted in %.0f s" % (time.time() - t0))


def apiserver_requests(kubeconfig, namespace_resources=("deployments", "events")):
    """apiserver_request_total by verb for the resources lagscale uses."""
    text = kubectl(kubeconfig, "get", "--raw", "/metrics").stdout
    out = {}
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        m = re.match(r"^apiserver_request_total\{([^}]*)\}\s+(\S+)", line)
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels.get("resource") not in namespace_resources:
            continue
        key = labels.get("verb", "") + " " + labels["resource"] + (
            "/" + labels["subresource"] if labels.get("subresource") else "")
        out[key] = out.get(key, 0) + float(m.group(2))
    return out


def diff(a, b):
    return {k: b.get(k, 0) - a.get(k, 0) for k in set(a) | set(b) if b.get(k, 0) != a.get(k, 0)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lagscale", required=True)
    ap.add_argument("--mock-fleet", required=True)
    ap.add_argument("--scalers", type=int, default=1000)
    ap.add_argument("--partitions", type=int, default=20)
    ap.add_argument("--interval", type=int, default=5, help="pollingInterval, seconds")
    ap.add_argument("--window", type=int, default=12, help="intervals measured")
    ap.add_argument("--soak", type=float, default=0, help="minutes before a second window")
    ap.add_argument("--kubeconfig", default="")
    ap.add_argument("--namespace", default="")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    res = {"scalers": a.scalers, "partitions": a.partitions, "interval_s": a.interval}
    if not a.namespace:
        a.namespace = "lagscale-bench-%d-%d" % (a.scalers, os.getpid())
    if a.kubeconfig:
        make_deployments(a.kubeconfig, a.namespace, a.scalers)
    mock = Mock(a.mock_fleet, a.scalers, a.partitions)
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="lagscale-bench-")
    cfg = os.path.join(tmp, "fleet.yaml")
    write_config(cfg, a.scalers, mock.bootstrap, port, a.interval, a.kubeconfig, a.namespace)
    stderr_log = os.path.join(tmp, "stderr.log")
    lines = [0]
    errors = [0]  # decisions without a lag (a failed read: "error" or "fallback")
    first = {}

    mock.requests()
    t0 = time.time()
    run = subprocess.Popen([a.lagscale, "run", "--config", cfg, "--dry-run", "--output",
                            "json"], stdout=subprocess.PIPE, stderr=open(
                                stderr_log, "w"), text=True)

    def reader():
        for line in run.stdout:
            lines[0] += 1
            if '"totalLag":null' in line:
                errors[0] += 1
            if lines[0] == a.scalers:
                first["t"] = time.time() - t0

    threading.Thread(target=reader, daemon=True).start()
    try:
        deadline = time.time() + 600
        while "t" not in first:
            if run.poll() is not None or time.time() > deadline:
                res["error"] = "lagscale %s before its first round" % (
                    "exited with status %d" % run.returncode if run.returncode is not None
                    else "took more than 600 s")
                break
            time.sleep(0.05)
    except BaseException:
        stop(run)
        raise
    try:
        if "error" in res:
            raise Failed()
        res["first_round_s"] = round(first["t"], 2)
        res["first_round_warnings"] = count_lines(stderr_log)
        # Warm up: two intervals; with the API server, until an interval
        # passes without a GET or LIST of deployments (lagscale reads each
        # target's /scale once when it first sees it), at most 10 minutes.
        w0 = time.time()
        time.sleep(2 * a.interval)
        if a.kubeconfig:
            before = apiserver_requests(a.kubeconfig)
            while time.time() - w0 < 600 and run.poll() is None:
                time.sleep(a.interval)
                now = apiserver_requests(a.kubeconfig)
                if not any(k.split()[0] in ("GET", "LIST") for k in diff(before, now)):
                    break
                before = now
        res["warmup_s"] = round(time.time() - w0, 1)

        def window(tag):
            w_log = count_lines(stderr_log)
            m0 = scrape(port)
            e0, mc0 = errors[0], proc_cpu(mock.p.pid)
            c0, k0 = proc_cpu(run.pid), mock.requests()
            api0 = apiserver_requests(a.kubeconfig) if a.kubeconfig else {}
            w0 = time.time()
            time.sleep(a.window * a.interval)
            if run.poll() is not None:
                res["error"] = "lagscale exited with status %d during the %swindow" % (
                    run.returncode, tag.replace("_", " "))
                raise Failed()
            api1 = apiserver_requests(a.kubeconfig) if a.kubeconfig else {}
            c1, k1 = proc_cpu(run.pid), mock.requests()
            e1, mc1 = errors[0], proc_cpu(mock.p.pid)
            el = time.time() - w0
            m1 = scrape(port)
            rounds = (metric_sum(m1, "lagscale_collect_duration_seconds_count") -
                      metric_sum(m0, "lagscale_collect_duration_seconds_count"))
            secs = (metric_sum(m1, "lagscale_collect_duration_seconds_sum") -
                    metric_sum(m0, "lagscale_collect_duration_seconds_sum"))
            intervals = el / a.interval
            res[tag + "rounds_per_interval"] = round(rounds / intervals, 2)
            res[tag + "round_s"] = round(secs / rounds, 3) if rounds else None
            res[tag + "cpu_s_per_interval"] = round((c1 - c0) / intervals, 4)
            res[tag + "mock_cpu_s_per_interval"] = round((mc1 - mc0) / intervals, 4)
            res[tag + "error_decisions_per_round"] = round((e1 - e0) / rounds, 1) if rounds else None
            res[tag + "kafka_requests_per_round"] = round(k1[0] / rounds, 1) if rounds else None
            res[tag + "kafka_requests_by_key"] = {k: round(v / rounds, 1)
                                                  for k, v in sorted(k1[1].items())}
            if a.kubeconfig:
                d = diff(api0, api1)
                res[tag + "api_requests_per_round"] = round(sum(d.values()) / rounds, 2)
                res[tag + "api_requests_by_verb"] = {k: round(v / rounds, 2)
                                                     for k, v in sorted(d.items())}
            res[tag + "rss_mb"], res["peak_rss_mb"] = (round(x, 1) for x in proc_rss(run.pid))
            res[tag + "log_lines"] = count_lines(stderr_log) - w_log

        window("steady_")
        if a.soak > 0:
            left = t0 + a.soak * 60 - time.time()
            while left > 0:
                time.sleep(min(left, 30))
                mock.requests()  # keeps the mock's request log short
                left = t0 + a.soak * 60 - time.time()
            window("soak_")
            res["soak_min"] = a.soak
    except Failed:
        pass
    finally:
        stop(run)
        mock.close()
        if a.kubeconfig:
            delete_deployments(a.kubeconfig, a.namespace)
    if run.returncode not in (0, -signal.SIGTERM) and "error" not in res:
        res["error"] = "lagscale exited with status %d" % run.returncode
    return finish(a, res, stderr_log)


class Failed(Exception):
    """lagscale failed; res["error"] says how."""


def stop(run):
    if run.poll() is None:
        run.send_signal(signal.SIGTERM)
        try:
            run.wait(timeout=60)
        except subprocess.TimeoutExpired:
            run.kill()
            run.wait()


def count_lines(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def finish(a, res, stderr_log):
    """Prints the results; 1 if lagscale failed (its log's last line is
    printed to stderr, and the log is kept)."""
    if "error" in res:
        with open(stderr_log, errors="replace") as f:
            tail = f.read().splitlines()[-1:]
        log("%d scalers: %s (log: %s)%s" % (a.scalers, res["error"], stderr_log,
                                            ": " + tail[0] if tail else ""))
    if a.json:
        print(json.dumps(res), flush=True)
    else:
        print(" ".join("%s=%s" % kv for kv in res.items()), flush=True)
    return 1 if "error" in res else 0


if __name__ == "__main__":
    sys.exit(main())
