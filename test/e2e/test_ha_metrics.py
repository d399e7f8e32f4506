"""Two lagscale replicas under leader election, scraped by a real Prometheus.

One voice under HA (issue 12):
- /readyz of the leader turns 200 only once every scaler's first decision
  is complete (printed, its patch answered);
- the follower decides but prints nothing, and its /metrics has only
  process-level series (lagscale_is_leader 0, build info, collect
  durations, process_*): no series about a scaler;
- the leader's series carry cluster and group labels, per-partition
  committed and end offsets (metrics.partitionSeries), lagscale_scaler_paused
  and the process_* series;
- every query of deploy/monitoring/grafana-dashboard.json and every alert
  expression of deploy/monitoring/prometheusrule.yaml and of the chart's
  PrometheusRule, evaluated by a Prometheus that scrapes both replicas,
  gives what a Prometheus that scrapes the leader alone gives: each scaler
  counted once (alert thresholds are lowered to -Inf so that every
  expression selects its scalers); the summed lag is the leader's;
- the leader frozen past its lease: the follower takes over and its series
  appear at once, warm (counters and rates from the rounds it ran as a
  follower); the old leader, awake, hides its series and prints nothing.

Scalers: a (6 partitions, lag 60), b (paused by annotation), broken (its
target does not exist: a "scale" error every round) on the broker; dead on
a cluster nobody listens on (collect errors, then its fallback).
"""
import json
import os
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request

import e2e
import test_kube_lib as k

ROOT = os.environ.get("LAGSCALE_SOURCE_ROOT", os.path.dirname(os.path.dirname(e2e.E2E_DIR)))
HELM = os.environ.get("LAGSCALE_E2E_HELM", "")
PROMETHEUS = os.environ.get("LAGSCALE_E2E_PROMETHEUS") or (
    os.path.join(os.path.dirname(HELM), "prometheus") if HELM else "prometheus")
LEASE_S, RETRY_S = 4.0, 1.0
WINDOW = "20s"  # Grafana's $__rate_interval, here
# Labels that tell replicas apart: a result counts a scaler once when its
# series are unique without them.
INSTANCE_LABELS = ("instance", "job", "pod")


def start(cfg, pod):
    env = dict(os.environ, POD_NAME=pod)
    return e2e.Proc([e2e.LAGSCALE, "run", "--config", cfg, "--output", "json"], env=env)


def port_of(proc, timeout=15):
    m = k.wait_until(lambda: re.search(r"\(port (\d+)\)", proc.stderr()), timeout, step=0.05)
    return int(m.group(1)) if m else None


def http(url, timeout=5):
    """(status, body); status None when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return None, ""


def metrics(port):
    return http("http://127.0.0.1:%d/metrics" % port)[1]


def sample(text, name, **labels):
    """The value of the first series of `name` with these labels, or None."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all('%s="%s"' % kv in line for kv in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def scaler_lines(text):
    return [l for l in text.splitlines() if 'scaler="' in l and not l.startswith("#")]


def rules_file(prometheusrule_yaml, path):
    """The `groups:` of a PrometheusRule as a plain rule file (the object's
    spec, one indentation level up): Prometheus parses it, and /api/v1/rules
    gives the expressions back."""
    lines = prometheusrule_yaml.splitlines()
    i = next(n for n, l in enumerate(lines) if l.rstrip() == "spec:")
    body = [l[2:] if l.startswith("  ") else l for l in lines[i + 1:]
            if not l.startswith("---")]
    with open(path, "w") as f:
        f.write("\n".join(body) + "\n")


class Prometheus:
    def __init__(self, d, name, targets, rule_files):
        self.port = e2e.free_port()
        self.dir = os.path.join(d, name)
        os.makedirs(self.dir)
        cfg = os.path.join(self.dir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n")
            f.write("rule_files: %s\n" % json.dumps(rule_files))
            f.write("scrape_configs:\n  - job_name: lagscale\n    static_configs:\n")
            f.write("      - targets: %s\n" % json.dumps(["127.0.0.1:%d" % p for p in targets]))
        self.proc = e2e.Proc([PROMETHEUS, "--config.file=" + cfg,
                              "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
                              "--web.listen-address=127.0.0.1:%d" % self.port,
                              "--log.level=warn"])
        self.url = "http://127.0.0.1:%d" % self.port

    def ready(self):
        return http(self.url + "/-/ready")[0] == 200

    def api(self, path, **params):
        st, body = http("%s/api/v1/%s?%s" % (self.url, path, urllib.parse.urlencode(params)), 10)
        try:
            return json.loads(body)
        except ValueError:
            return {"status": "error", "error": "HTTP %s: %s" % (st, body[:200])}

    def query(self, q, t=None):
        params = {"query": q}
        if t is not None:
            params["time"] = "%.3f" % t
        return self.api("query", **params)

    def vector(self, q, t=None):
        """{frozenset(labels): value} of an instant vector; None on error."""
        r = self.query(q, t)
        if r.get("status") != "success":
            return None
        res = r["data"]["result"]
        if r["data"]["resultType"] == "scalar":
            return {frozenset(): float(res[1])}
        return {frozenset(x["metric"].items()): float(x["value"][1]) for x in res}

    def scalar(self, q, t=None):
        v = self.vector(q, t)
        return sum(v.values()) if v else None


def dashboard_queries():
    with open(os.path.join(ROOT, "deploy/monitoring/grafana-dashboard.json")) as f:
        d = json.load(f)
    out = []
    for p in d["panels"]:
        for t in p.get("targets", []):
            out.append(("panel %r %s" % (p["title"], t["refId"]), t["expr"]))
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.match(r"label_values\((.*),\s*(\w+)\)$", q or "")
        if m:  # Grafana's label_values(M, L): the values of L on M
            out.append(("variable %s" % v["name"], "count by (%s) (%s)" % (m.group(2), m.group(1))))
    subst = {"$namespace": ".*", "$cluster": ".*", "$scaler": ".*", "$__rate_interval": WINDOW}
    for i, (n, q) in enumerate(out):
        for a, b in subst.items():
            q = q.replace(a, b)
        out[i] = (n, q)
    return out


def lowered(q):
    """An alert expression with every comparison to a number made `> -Inf`:
    it then selects every series it would alert on, at any value."""
    return re.sub(r"(==|!=|>=|<=|>|<)\s*-?[0-9][0-9.eE+]*", "> -Inf", q)


def process_level(q):
    return any(s in q for s in ("process_", "collect_duration", "up{", "absent("))


def counted_once(result):
    """No two series of a query's result differ only in the replica."""
    keys = [frozenset((a, b) for a, b in ls if a not in INSTANCE_LABELS) for ls in result]
    return len(keys) == len(set(keys))


def compare(name, q, both, leader, t):
    """Each scaler once: the two-replica answer is the leader-alone answer."""
    rb, rl = both.vector(q, t), leader.vector(q, t)
    if not e2e.check(rb is not None and rl is not None, "%s evaluates" % name,
                     "%s\n%s" % (q, both.query(q, t).get("error"))):
        return
    if "absent(" not in q:
        e2e.check(rb, "%s has data" % name, q)
    if process_level(q):
        # Per process by intent: one series per replica, the follower's
        # too (collection rounds: summed over the replicas, as documented).
        if "process_" in q:
            e2e.check(len({dict(ls).get("instance") for ls in rb}) == 2,
                      "%s: one series per replica" % name, "%s\n%s" % (q, rb))
        return
    e2e.check(counted_once(rb), "%s: each series once, whatever the replica" % name,
              "%s\n%s" % (q, rb))
    # Each Prometheus scrapes at its own moments: what moves between two
    # scrapes (lag seconds grow while nothing is consumed; increases and
    # rates over a window) may differ a little, never twice over.
    moving = "[" in q or "lag_seconds" in q
    same = set(rb) == set(rl) and all(
        abs(rb[x] - rl[x]) <= (0.25 * abs(rl[x]) + 1.0 if moving else 1e-9) for x in rb)
    e2e.check(same, "%s: with both replicas as with the leader alone" % name,
              "%s\nboth: %s\nleader: %s" % (q, sorted(rb.items(), key=str),
                                            sorted(rl.items(), key=str)))


d = k.tmpdir()
procs, proms = [], []
with k.Namespace("ls-ha") as ns:
    for name in ("web-a", "web-b", "web-dead"):
        k.create_deployment(ns, name, 1)
    k.kubectl("-n", ns, "annotate", "deployment", "web-b", "lagscale.io/paused=true")
    ta, tb = e2e.uid("ha-a"), e2e.uid("ha-b")
    ga, gb = e2e.uid("ha-ga"), e2e.uid("ha-gb")
    k.make_lag(ta, ga, 6, 10, committed=0)  # lag 60
    k.make_lag(tb, gb, 4, 10, committed=5)  # lag 20
    fast = ("{lagThreshold: 10, maxReplicas: 10, pollingInterval: 1s, partitionAware: false, "
            "behavior: {scaleUp: {policies: [{type: Pods, value: 10, period: 1s}]}}}")
    scalers = [("a", "main", "web-a", ga, ta, fast), ("b", "main", "web-b", gb, tb, fast),
               ("broken", "main", "no-such-deployment", ga, ta, fast),
               ("dead", "dead", "web-dead", "ha-gd", "ha-td",
                "{lagThreshold: 10, pollingInterval: 3s}")]
    lines = ["kafka:", "  clusters:",
             "    - {name: main, bootstrapServers: \"%s\"}" % e2e.KAFKA,
             "    - {name: dead, bootstrapServers: \"127.0.0.1:1\"}",
             "kubernetes: {kubeconfig: \"%s\"}" % k.ADMIN_KUBECONFIG,
             "leaderElection: {enabled: true, namespace: %s, leaseName: ha, leaseDuration: 4s, "
             "renewDeadline: 3s, retryPeriod: 1s}" % ns,
             "server: {address: \"127.0.0.1:0\"}", "metrics: {partitionSeries: true}",
             "log: {level: info}", "scalers:"]
    for n, cl, tgt, g, t, pol in scalers:
        lines += ["  - name: %s" % n,
                  "    target: {apiVersion: apps/v1, kind: Deployment, namespace: %s, name: %s}"
                  % (ns, tgt),
                  "    kafka: {cluster: %s, group: %s, topics: [%s]}" % (cl, g, t),
                  "    policy: %s" % pol]
    cfg = e2e.write_config("\n".join(lines) + "\n")
    names = [s[0] for s in scalers]
    try:
        # --- readiness: the leader's /readyz after its first complete round
        a = start(cfg, "pod-a")
        procs.append(a)
        pa = port_of(a)
        statuses, at_ready = [], None
        end = time.time() + 60
        while pa and time.time() < end:
            st = http("http://127.0.0.1:%d/readyz" % pa, 2)[0]
            statuses.append(st)
            if st == 200:
                at_ready = {x["scaler"] for x in k.decisions(a.stdout())}
                break
            time.sleep(0.02)
        print("     leader /readyz: %d answers before 200 (%s)" % (
            len(statuses) - 1, sorted(set(map(str, statuses)))))
        e2e.check(at_ready is not None, "the leader turns ready", a.stderr()[-800:])
        e2e.check(at_ready is not None and set(names) <= at_ready,
                  "... only once every scaler's first decision is out", str(at_ready))
        ida = re.search(r'identity \\?"([^"\\]+)', a.stderr())
        e2e.check(ida and k.wait_until(lambda: k.lease_holder(ns, "ha") == ida.group(1), 10),
                  "the first replica holds the Lease")
        e2e.check(k.wait_until(lambda: k.replicas(ns, "deployment", "web-a") == 6, 20),
                  "the leader scales web-a 1 -> 6")

        # --- the follower: ready after its own first round, silent
        b = start(cfg, "pod-b")
        procs.append(b)
        pb = port_of(b)
        e2e.check(pb and k.wait_until(
            lambda: http("http://127.0.0.1:%d/readyz" % pb, 2)[0] == 200, 30),
            "the follower turns ready (after its first round)", b.stderr()[-800:])
        n0 = len(k.decisions(a.stdout()))
        a.wait_for(lambda out: len(k.decisions(out)) >= n0 + 3 * len(names), 30)
        e2e.check(b.stdout().strip() == "",
                  "the follower prints no decision while the leader prints its own",
                  b.stdout()[:500])
        mb, ma = metrics(pb), metrics(pa)
        e2e.check(mb and not scaler_lines(mb),
                  "the follower's /metrics has no series about a scaler",
                  "\n".join(scaler_lines(mb)[:5]))
        for want in ("lagscale_is_leader 0", "lagscale_build_info{", "process_resident_memory_bytes ",
                     "process_cpu_seconds_total ", "process_open_fds ", "process_max_fds ",
                     "process_virtual_memory_bytes ", "process_start_time_seconds ",
                     'lagscale_collect_duration_seconds_count{cluster="main"}'):
            e2e.check(want in mb, "the follower exports %s" % want.strip(" {"))
        e2e.check("lagscale_is_leader 1" in ma, "the leader says it leads")
        e2e.check(sample(ma, "lagscale_lag_messages", scaler="a", cluster="main", group=ga) == 60,
                  "the leader's lag of a carries cluster and group labels (60)",
                  "\n".join(l for l in ma.splitlines() if "lagscale_lag_messages{" in l))
        e2e.check(sample(ma, "lagscale_partition_committed_offset", scaler="a", topic=ta,
                         partition="2") == 0 and
                  sample(ma, "lagscale_partition_end_offset", scaler="a", topic=ta,
                         partition="2") == 10,
                  "per-partition committed (0) and end (10) offsets of a")
        e2e.check(sample(ma, "lagscale_scaler_paused", scaler="b") == 1 and
                  sample(ma, "lagscale_scaler_paused", scaler="a") == 0,
                  "lagscale_scaler_paused: 1 for the annotated target, 0 for the other")
        e2e.check((sample(ma, "lagscale_errors_total", scaler="broken", stage="scale") or 0) >= 1,
                  "the broken scaler counts errors")
        leader_lag = sum(float(l.rsplit(" ", 1)[1]) for l in ma.splitlines()
                         if l.startswith("lagscale_lag_messages{"))

        # --- Prometheus: both replicas, and the leader alone ---------------
        e2e.check(os.access(PROMETHEUS, os.X_OK), "Prometheus is built (test/e2e/env build)",
                  PROMETHEUS)
        with open(os.path.join(ROOT, "deploy/monitoring/prometheusrule.yaml")) as f:
            rules_file(f.read(), os.path.join(d, "deploy-rules.yml"))
        chart = e2e.run([HELM, "template", "lagscale", os.path.join(ROOT, "charts/lagscale"),
                         "--set", "prometheusRule.enabled=true",
                         "--show-only", "templates/prometheusrule.yaml"], check_rc=False,
                        env=dict(os.environ, HELM_CACHE_HOME=os.path.join(d, "helm"),
                                 HELM_CONFIG_HOME=os.path.join(d, "helm"),
                                 HELM_DATA_HOME=os.path.join(d, "helm")))
        e2e.check(chart.returncode == 0, "helm renders the chart's PrometheusRule", chart.stderr)
        rule_files = [os.path.join(d, "deploy-rules.yml")]
        if chart.returncode == 0:
            rules_file(chart.stdout, os.path.join(d, "chart-rules.yml"))
            rule_files.append(os.path.join(d, "chart-rules.yml"))
        both = Prometheus(d, "both", [pa, pb], rule_files)
        leader = Prometheus(d, "leader", [pa], [])
        proms += [both, leader]
        e2e.check(k.wait_until(lambda: both.ready() and leader.ready(), 60),
                  "both Prometheus servers are ready", both.proc.stderr()[-800:])
        # Scrapes done: every target up, and 15 samples in the window.
        enough = "min(count_over_time(up[%s])) >= 15 and min(up) == 1" % WINDOW
        e2e.check(k.wait_until(lambda: both.vector(enough) and leader.vector(enough), 90, 1),
                  "both have scraped their targets for a window")
        def all_rules():
            return [r for g in both.api("rules").get("data", {}).get("groups", [])
                    for r in g["rules"]]

        # Evaluated: a rule's lastEvaluation is the zero time until then.
        k.wait_until(lambda: all_rules() and all(not r.get("lastEvaluation", "0").startswith("0001")
                                                 for r in all_rules()), 30)
        alerts = [(r["name"], r["query"], r.get("health"), r.get("lastError"))
                  for r in all_rules()]
        e2e.check(len(alerts) >= 14 and all(h == "ok" for _, _, h, _ in alerts),
                  "Prometheus loads and evaluates every alert of deploy/monitoring and of the "
                  "chart (%d)" % len(alerts), str([a for a in alerts if a[2] != "ok"]))
        t = time.time() - 2
        for name, q in dashboard_queries():
            compare(name, q, both, leader, t)
        for name, q, _, _ in alerts:
            compare("alert %s" % name, lowered(q), both, leader, t)
        lag_panel = dashboard_queries()[0][1]
        e2e.check(both.scalar(lag_panel, t) == leader_lag == 140,
                  "the dashboard's summed lag is the leader's (%s, %s)" % (
                      both.scalar(lag_panel, t), leader_lag))
        e2e.check(both.scalar("sum(lagscale_is_leader)", t) == 1 and
                  both.scalar("count(lagscale_is_leader)", t) == 2,
                  "two replicas, one leader")

        # --- the leader frozen past its lease: the follower takes over ----
        os.kill(a.p.pid, signal.SIGSTOP)
        idb = re.search(r'identity \\?"([^"\\]+)', b.stderr()).group(1)
        e2e.check(k.wait_until(lambda: k.lease_holder(ns, "ha") == idb, LEASE_S + RETRY_S + 8),
                  "with the leader frozen, the follower takes the Lease")
        first = k.wait_until(lambda: (lambda m: m if scaler_lines(m) else None)(metrics(pb)), 10, 0.1)
        e2e.check(first and "lagscale_is_leader 1" in first,
                  "the new leader's series appear at once", (first or "")[:300])
        e2e.check(first and (sample(first, "lagscale_errors_total", scaler="broken",
                                    stage="scale") or 0) >= 3,
                  "... with the history of its rounds as a follower (errors counted)",
                  str(sample(first or "", "lagscale_errors_total", scaler="broken", stage="scale")))
        e2e.check(first and sample(first, "lagscale_produce_rate", scaler="a") is not None,
                  "... and rates known at once (a previous read)")
        e2e.check(b.wait_for(lambda out: len(k.decisions(out)) >= 4, 15),
                  "the new leader prints decisions")
        os.kill(a.p.pid, signal.SIGCONT)
        e2e.check(k.wait_until(lambda: (lambda m: "lagscale_is_leader 0" in m and
                                        not scaler_lines(m))(metrics(pa)), 15),
                  "the old leader, awake, hides its scaler series", metrics(pa)[:300])
        na = len(k.decisions(a.stdout()))
        nb = len(k.decisions(b.stdout()))
        b.wait_for(lambda out: len(k.decisions(out)) >= nb + 2 * len(names), 30)
        e2e.check(len(k.decisions(a.stdout())) == na, "... and prints no more decisions")
        one = "count by (namespace, scaler) (lagscale_replicas_desired) > 1"
        e2e.check(k.wait_until(lambda: both.vector("min(up) == 1") and both.vector(
            'sum(lagscale_lag_messages)') == {frozenset(): 140.0}, 30),
            "Prometheus again scrapes both, and the summed lag is still 140")
        t = time.time() - 1
        e2e.check(both.vector(one, t) == {}, "after the handover each scaler is counted once",
                  str(both.vector(one, t)))
        for name, q in dashboard_queries():
            rb = both.vector(q, t)
            e2e.check(rb and (process_level(q) or counted_once(rb)),
                      "after the handover, %s: each series once" % name, "%s\n%s" % (q, rb))
    finally:
        for p in procs:
            if p.p.poll() is None:
                os.kill(p.p.pid, signal.SIGCONT)
            p.stop()
        for p in proms:
            p.proc.stop()
        k.cleanup_dir(d)
        os.unlink(cfg)
e2e.done()
