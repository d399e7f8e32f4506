"""The closed loop: a spike arrives, lagscale scales real consumers through
the real API server, the backlog drains, it scales down calmly — and holds
the replicas while the broker is down for 20 s.

Two runs at once, one per policy (test/scenarios/closed-loop-{lag,rate}.yaml):
each has its own namespace, Deployment, topic and group, a ReplicaRunner
that keeps as many consumer processes as the Deployment asks for, a producer
following the scenario's curve, and `lagscale run` (not dry-run) against
the API server. Each run is recorded as CSV, drawn with the simulator's
chart, and compared with `lagscale simulate` on the same scenario; the
figures are printed and kept in $LAGSCALE_E2E_HOME/closed-loop/.
"""
import json
import os
import subprocess
import threading
import time

import e2e
from closedloop import Producer, Recorder, ReplicaRunner, policy_block
from e2e import check, create_topic, done, uid, write_config
import test_kube_lib as kl

SCENARIOS = os.path.join(os.environ.get("LAGSCALE_SOURCE_ROOT",
                                        os.path.join(e2e.E2E_DIR, "..", "..")),
                         "test", "scenarios")
SERIES_TOOL = os.environ.get("LAGSCALE_SERIES_TOOL", "series-tool")
OUT = os.path.join(os.environ.get("LAGSCALE_E2E_HOME", "/tmp"), "closed-loop")
POLL = 5.0          # pollingInterval of both scenarios
SPIKE_AT = 30.0     # the scenarios' produce rate starts rising
WINDOW = 60.0       # scale-down stabilizationWindow
THRESHOLD = 200     # lagThreshold
RATE = 100          # msgs/s per consumer (perReplicaRate)
STARTUP = 5         # startupDelay
OUTAGE = (170, 190)  # the broker is stopped in between (kafkaErrors)
DURATION = 330
LATE_DOWN = 120     # how much longer a scale-down may take on a loaded machine
PARTITIONS = 12


class Run:
    def __init__(self, policy):
        self.policy = policy
        self.scenario = os.path.join(SCENARIOS, "closed-loop-%s.yaml" % policy)
        self.ns_ctx = kl.Namespace("loop-" + policy)
        self.ns = self.ns_ctx.__enter__()
        self.topic, self.group, self.name = uid("loop"), uid("g-loop"), "consumer"
        create_topic(self.topic, PARTITIONS)
        kl.create_deployment(self.ns, self.name, 2)
        self.cfg = write_config("""
kafka: {clusters: [{name: k, bootstrapServers: "%s"}]}
kubernetes: {kubeconfig: "%s"}
leaderElection: {enabled: false}
server: {address: "127.0.0.1:0"}
scalers:
  - name: %s
    target: {apiVersion: apps/v1, kind: Deployment, namespace: %s, name: %s}
    kafka: {group: %s, topics: [%s]}
%s
""" % (e2e.KAFKA, kl.ADMIN_KUBECONFIG, policy, self.ns, self.name, self.group, self.topic,
       policy_block(self.scenario)))
        self.runner = ReplicaRunner(self.ns, self.name, self.group, self.topic, RATE, STARTUP)

    def start(self, t0):
        self.runner.start()
        self.lagscale = e2e.Proc([e2e.LAGSCALE, "run", "--config", self.cfg, "--output", "json"])
        self.producer = Producer(self.topic, self.scenario)
        self.recorder = Recorder(self, t0)
        self.recorder.start()

    def stop(self):
        self.recorder.stopping = True
        self.recorder.join(15)
        self.producer.stop()
        rc = self.lagscale.stop()
        self.runner.stop()
        self.ns_ctx.__exit__(None, None, None)
        return rc


def scale_events(rows):
    """[(t, from, to)] from the recorded Deployment replicas."""
    ev = []
    for a, b in zip(rows, rows[1:]):
        if b[5] != a[5]:
            ev.append((b[0], a[5], b[5]))
    return ev


def assess(run, rows):
    name = run.policy
    ev = scale_events(rows)
    ups = [e for e in ev if e[2] > e[1]]
    downs = [e for e in ev if e[2] < e[1]]
    # 1. The scale-up starts within two polling intervals of the lag
    # crossing what the current replicas are meant to carry. Rate mode may
    # scale on the produce rate before any lag shows; a crossing while the
    # replicas already hold every partition (12) asks for nothing more.
    # From the spike's start (the scenarios' rate rises at 30 s): before it,
    # lag is the consumers' start-up (their group join took 7 s in a run,
    # and 2 replicas drained that backlog by themselves), not the spike.
    cross_row = next((r for r in rows
                      if r[0] >= SPIKE_AT and r[3] > THRESHOLD * max(r[5], 1) * 1.1), None)
    cross = cross_row[0] if cross_row else None
    early_up = next((e for e in ups if cross is None or e[0] < cross), None)
    check(cross is not None or early_up is not None, "%s: the spike shows as lag" % name)
    if cross is not None and cross_row[5] >= PARTITIONS:
        check(early_up is not None,
              "%s: at the crossing the replicas already held every partition" % name,
              "crossed at %.0f s with %d replicas" % (cross, cross_row[5]))
    elif cross is not None:
        first_up = next((e[0] for e in ups if e[0] >= cross - 1), None)
        # Two rounds, the patch, and the runner's watch of the Deployment
        # (1 s samples): 12.4 s measured in lag mode once crossings before
        # the spike were left out (they had hidden it); 3 s of slack.
        check(first_up is not None and first_up - cross <= 2 * POLL + 3,
              "%s: scale-up within two polling intervals of the lag crossing" % name,
              "crossed at %.0f s, scaled up at %s" % (cross, first_up))
    # 2. The backlog drains after the spike. (Not necessarily before the
    # outage: a real backlog is uneven across partitions, and the last of
    # it drains only as fast as the few consumers owning those partitions.)
    after_spike = [r for r in rows if r[0] >= 125]
    check(any(r[3] < THRESHOLD for r in after_spike), "%s: the backlog drains" % name,
          "lag after the spike: %s" % [r[3] for r in after_spike][-5:])
    # 3. Scale-down waits for the stabilization window after the last
    # scale-up, and 4. no direction reversal within the window.
    if downs and ups:
        last_up_before = max((e[0] for e in ups if e[0] < downs[0][0]), default=None)
        check(last_up_before is None or downs[0][0] - last_up_before >= WINDOW - 1,
              "%s: scale-down waits for the stabilization window" % name,
              "up at %s, down at %.0f" % (last_up_before, downs[0][0]))
    check(len(downs) > 0, "%s: scaled down after the spike" % name, str(ev))
    for a, b in zip(ev, ev[1:]):
        if (a[2] > a[1]) != (b[2] > b[1]):
            check(b[0] - a[0] >= WINDOW - 1 or b[0] > OUTAGE[1],
                  "%s: no reversal within the window (%s then %s)" % (name, a, b))
    # 5. During the outage the replicas are held: never dropped, never 0.
    during = [r for r in rows if OUTAGE[0] + 1 <= r[0] <= OUTAGE[1]]
    held = during and all(r[5] >= during[0][5] and r[5] > 0 for r in during)
    check(bool(held), "%s: replicas held while the broker is down" % name,
          str([r[5] for r in during]))
    decisions = e2e.json_lines(run.lagscale.stdout())
    check(any(d["action"] in ("error", "fallback") for d in decisions),
          "%s: lagscale saw the outage" % name)
    # 6. Scaling resumes afterwards: decisions with lag again.
    t_back = OUTAGE[1]
    check(any(d["totalLag"] is not None for d in decisions[-10:]),
          "%s: decisions read lag again after the broker is back" % name)
    return ev


def main():
    os.makedirs(OUT, exist_ok=True)
    runs = [Run("lag"), Run("rate")]
    t0 = time.time()
    for r in runs:
        r.start(t0)
    outage_done = threading.Event()

    def outage():
        time.sleep(max(0, OUTAGE[0] - (time.time() - t0)))
        subprocess.run([kl.ENV_SCRIPT, "kafka-stop"], check=True, capture_output=True,
                       timeout=120)
        time.sleep(max(0, OUTAGE[1] - (time.time() - t0)))
        subprocess.run([kl.ENV_SCRIPT, "kafka-start"], check=True, capture_output=True,
                       timeout=300)
        outage_done.set()

    threading.Thread(target=outage, daemon=True).start()
    time.sleep(DURATION)
    outage_done.wait(300)
    # The scale-down comes when the policy allows it: on a loaded machine
    # consumers are slower, the per-replica rate lagscale proves is lower
    # and the scale-down floor higher, so it may come after DURATION. Wait
    # for it a while longer (a condition, not a moment); the series and the
    # replica-seconds still end at DURATION.
    end = time.time() + LATE_DOWN
    while time.time() < end and not all(
            any(e[2] < e[1] for e in scale_events(list(r.recorder.rows))) for r in runs):
        time.sleep(1)
    results = {}
    for r in runs:
        rows = list(r.recorder.rows)
        rc = r.stop()
        check(rc == 0, "%s: lagscale exits 0 on SIGTERM" % r.policy,
              "exit %s: %s" % (rc, r.lagscale.stderr()[-800:]))
        check(r.runner.watch_events > 1, "%s: the runner followed a watch" % r.policy)
        csv = os.path.join(OUT, "real-%s.csv" % r.policy)
        r.recorder.write_csv(csv, until=DURATION)
        assess(r, rows)
        svg = os.path.join(OUT, "real-%s.svg" % r.policy)
        e2e.run([SERIES_TOOL, "chart", csv, svg, "closed loop (%s): real broker, real API server"
                 % r.policy, str(THRESHOLD), "12"])
        real = json.loads(e2e.run([SERIES_TOOL, "summary", csv, str(THRESHOLD)]).stdout)
        sim_csv = os.path.join(OUT, "sim-%s.csv" % r.policy)
        e2e.lagscale("simulate", "--scenario", r.scenario, "--csv", sim_csv, "--svg",
                     os.path.join(OUT, "sim-%s.svg" % r.policy), check_rc=True)
        sim = json.loads(e2e.run([SERIES_TOOL, "summary", sim_csv, str(THRESHOLD)]).stdout)
        results[r.policy] = (real, sim)
    print("\n%-6s %-5s %9s %9s %9s %12s %7s" % ("policy", "run", "peakLag", "peakAge",
                                                "drain", "replica-s", "events"))
    for policy, (real, sim) in results.items():
        for label, s in (("real", real), ("sim", sim)):
            print("%-6s %-5s %9d %8.1fs %8.1fs %12.0f %7d" % (
                policy, label, s["peakLag"], s["peakLagSeconds"], s["drainSeconds"],
                s["replicaSeconds"], s["scaleEvents"]))
        # Real and simulated replica-seconds agree within a third (about
        # 5-15% measured): the simulator has no group rebalances, no
        # commit interval and no producer buffering during the outage.
        check(abs(real["replicaSeconds"] - sim["replicaSeconds"]) <= 0.35 * sim["replicaSeconds"],
              "%s: replica-seconds within 35%% of the simulation" % policy,
              "real %.0f, sim %.0f" % (real["replicaSeconds"], sim["replicaSeconds"]))
    with open(os.path.join(OUT, "summary.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("series and charts in %s" % OUT)
    done()


if __name__ == "__main__":
    main()
