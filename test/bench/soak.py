#!/usr/bin/env python3
"""The soak behind scripts/soak and the soak-short test: `lagscale run
--dry-run` with the benchmark's fleet (fleet.py, mock-fleet: N scalers x P
partitions on the mock cluster) for MINUTES, under produce churn
(mock-fleet --churn), a configuration reload every minute (SIGHUP, with a
file that removes, brings back, edits and adds scalers) and a broker
outage every min(10 min, MINUTES/2). It is a test: it exits 1 when lagscale
leaks memory, descriptors or threads, or stops working.

It reads /proc/PID/status and /proc/PID/fd of the lagscale process every
0.5 s and writes one CSV row every 10 s: RSS (at that moment, and the
smallest reading since the previous row: the memory held between rounds,
which is what a leak raises, without the round's and the scrape's
transient buffers), open descriptors and threads (the least and the most
since the previous row), rounds done, reloads applied and whether a broker
is down. After the warm-up it fits a line to the minimum of RssAnon
(least squares; the anonymous part of RSS is what a leak raises: the
pages of the shared libraries in VmRSS come and go with the page cache)
and checks, outside outages, rounds that failed, and a grace
period after each (a broker down closes connections; a round that
outlives its deadline makes lagscale recreate its Kafka client):
  - anonymous RSS grows less than --max-growth MB an hour;
  - descriptors and threads are flat: the least of each row (between
    rounds) is the same in every row; a leak raises it. The most of a row
    may be higher for a moment: a round's collector thread (the
    controller collects each cluster's round on a thread of its own,
    started per round) and the round's threads reading end offsets (up to
    8), the configuration file read on a reload; it is checked against the
    least plus --transient;
  - lagscale is alive, finishes rounds in every minute, and applied every
    reload (a decision of the scaler the reload added is seen).
Prints a table, and where the CSV and the SVG (drawn by --chart-tool) are.
"""
import argparse
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet  # noqa: E402

SAMPLE_S = 10.0
POLL_S = 0.5
ROUNDS = 7  # the CSV columns of rounds and of anonMinKB
ANON = 12


def log(msg):
    print("soak: " + msg, file=sys.stderr, flush=True)


def proc_status(pid):
    """(VmRSS KB, RssAnon KB, threads, open descriptors), or None once pid
    is gone."""
    try:
        rss = anon = threads = 0
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("RssAnon:"):
                    anon = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
        return rss, anon, threads, len(os.listdir("/proc/%d/fd" % pid))
    except (FileNotFoundError, ProcessLookupError):
        return None


def fit(ts, ys):
    """Least squares: the slope of y over t (0 with fewer than 2 points)."""
    n = len(ts)
    if n < 2:
        return 0.0
    mt, my = sum(ts) / n, sum(ys) / n
    den = sum((t - mt) ** 2 for t in ts)
    return sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / den if den else 0.0


def scalers_for_reload(n, k):
    """The k-th reload's scalers (k >= 1): the fleet without 5 scalers
    (the next 5 each time, so the previous ones come back), 5 others with
    an edited lagThreshold, and 3 scalers that exist only in this version
    (x<k>-0..2, on groups of the fleet), so each reload removes 3, adds 3."""
    removed = {(k * 5 + i) % n for i in range(5)}
    edited = {(n // 2 + k * 5 + i) % n for i in range(5)} - removed
    out = []
    for name, g, policy in fleet.fleet_scalers(n):
        if g in removed:
            continue
        if g in edited:
            policy = "lagThreshold: %d" % (500 + k % 7 * 100)
        out.append((name, g, policy))
    for j in range(3):
        out.append(("x%d-%d" % (k, j), (k * 3 + j) % n, "lagThreshold: 2000"))
    return out


class Decisions:
    """Reads lagscale's decisions (JSON Lines) and keeps count."""

    def __init__(self, stream):
        self.lines = 0
        self.unknown = 0  # decisions without a lag: a failed read
        self.added = 0  # the largest k of a scaler x<k>-... seen
        threading.Thread(target=self.read, args=(stream,), daemon=True).start()

    def read(self, stream):
        for line in stream:
            self.lines += 1
            if '"totalLag":null' in line:
                self.unknown += 1
            i = line.find('"scaler":"x')
            if i >= 0:
                k = line[i + 11:line.find("-", i)]
                if k.isdigit() and int(k) > self.added:
                    self.added = int(k)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lagscale", required=True)
    ap.add_argument("--mock-fleet", required=True)
    ap.add_argument("--chart-tool", default="", help="soak-chart, to draw the SVG")
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--scalers", type=int, default=1000)
    ap.add_argument("--partitions", type=int, default=20)
    ap.add_argument("--interval", type=int, default=5, help="pollingInterval, seconds")
    ap.add_argument("--reload-every", type=float, default=60, help="seconds")
    ap.add_argument("--stabilization-window", default="", help="the scale-down "
                    "stabilizationWindow (default 300s): a scaler's history grows for that "
                    "long, by design, so a short run needs a short one")
    ap.add_argument("--outage-every", type=float, default=0, help="seconds (default: "
                    "min(10 min, half the run))")
    ap.add_argument("--first-outage", type=float, default=0, help="seconds after the start "
                    "(default: --outage-every)")
    ap.add_argument("--warmup", type=float, default=0, help="seconds (default: 20%% of the "
                    "run, at least 2 minutes, at most half)")
    ap.add_argument("--outage-for", type=float, default=60, help="seconds (at most a quarter "
                    "of the time between outages); 0: no outages")
    ap.add_argument("--max-growth", type=float, default=1.0, help="RSS MB per hour")
    # A round has its collector thread and up to 8 threads reading end
    # offsets (LS_KAFKA_OFFSETS_IN_FLIGHT in lib/kafka/kafka.c), plus one
    # for a moment (a reload's file).
    ap.add_argument("--transient", type=int, default=10, help="descriptors or threads a "
                    "moment may have over those held between rounds")
    ap.add_argument("--out", default="", help="directory for the CSV, SVG and logs")
    ap.add_argument("--wrapper", default="", help="a command lagscale runs under, to find "
                    "a leak (e.g. heaptrack); the figures are then the wrapper's")
    a = ap.parse_args()

    duration = a.minutes * 60
    warmup = a.warmup or min(max(0.2 * duration, 120), duration / 2)
    outage_every = a.outage_every or min(600, duration / 2)
    outage_for = min(a.outage_for, outage_every / 4)
    grace = 3 * a.interval + 20
    out = a.out or os.path.join("/tmp", "lagscale-soak-%d" % os.getpid())
    os.makedirs(out, exist_ok=True)
    csv_path, svg_path = os.path.join(out, "soak.csv"), os.path.join(out, "soak.svg")
    cfg, stderr_log = os.path.join(out, "fleet.yaml"), os.path.join(out, "lagscale.log")

    log("%g min, %d scalers x %d partitions, interval %d s; a reload every %g s, %s; "
        "warm-up %g s; output in %s" % (
            a.minutes, a.scalers, a.partitions, a.interval, a.reload_every,
            "a broker down for %g s every %g s" % (outage_for, outage_every) if outage_for > 0
            else "no broker outage", warmup, out))
    mock = fleet.Mock(a.mock_fleet, a.scalers, a.partitions, ["--churn"])
    port = fleet.free_port()

    def config(scalers=None):
        tmp = cfg + ".tmp"
        fleet.write_config(tmp, a.scalers, mock.bootstrap, port, a.interval, "", "soak",
                           scalers=scalers, level="info", defaults=(
                               "behavior: {scaleDown: {stabilizationWindow: %s}}" %
                               a.stabilization_window if a.stabilization_window else ""))
        os.replace(tmp, cfg)

    config()
    # No Kubernetes cluster of the developer's may be found: dry-run then
    # assumes the replicas.
    env = dict(os.environ, KUBECONFIG="", KUBERNETES_SERVICE_HOST="", HOME="/nonexistent")
    run = subprocess.Popen(a.wrapper.split() + [a.lagscale, "run", "--config", cfg, "--dry-run", "--output", "json"],
                           stdout=subprocess.PIPE, stderr=open(stderr_log, "w"), text=True,
                           env=env)
    dec = Decisions(run.stdout)
    failures = []
    rows = []
    steady = {"fds": [], "fdsMax": [], "threads": [], "threadsMax": []}
    everything = {"fds": [], "threads": []}
    reloads = outages = 0
    outage_ends = []
    down = 0  # the broker down now, 0: none
    rounds_at_minute = []
    t0 = time.time()
    next_sample, next_reload, next_outage = t0 + SAMPLE_S, t0 + a.reload_every, t0 + (
        a.first_outage or outage_every)
    outage_until = 0
    window_saw_outage = False
    unknown_seen, disturbed_until = 0, 0
    window = None  # [rss min, fds min, fds max, threads min, threads max]
    try:
        with open(csv_path, "w") as csv:
            csv.write("seconds,rssKB,rssMinKB,fds,fdsMax,threads,threadsMax,rounds,decisions,"
                      "unknownLag,reloads,brokerDown,anonMinKB\n")
            while True:
                now = time.time()
                if now - t0 >= duration:
                    break
                st = proc_status(run.pid)
                if st is None or run.poll() is not None:
                    with open(stderr_log, errors="replace") as f:
                        last = (f.read().splitlines() or [""])[-1]
                    failures.append("lagscale exited (status %s) after %.0f s: %s (log: %s)" % (
                        run.poll(), now - t0, last, stderr_log))
                    break
                rss, anon, threads, fds = st
                if window is None:
                    window = [rss, fds, fds, threads, threads, anon]
                window = [min(window[0], rss), min(window[1], fds), max(window[2], fds),
                          min(window[3], threads), max(window[4], threads),
                          min(window[5], anon)]
                # A round that failed outside an outage (on a busy machine
                # a round can outlive its deadline; lagscale then recreates
                # the Kafka client, reconnecting) disturbs like an outage.
                if dec.unknown > unknown_seen:
                    unknown_seen, disturbed_until = dec.unknown, now + grace
                quiet = (not down and now > disturbed_until and
                         all(now > e + grace for e in outage_ends))
                window_saw_outage = window_saw_outage or not quiet
                everything["fds"].append(fds)
                everything["threads"].append(threads)
                if now >= next_sample:
                    try:
                        m = fleet.scrape(port)
                        rounds = int(fleet.metric_sum(m, "lagscale_collect_duration_seconds_count"))
                    except OSError as e:
                        failures.append("/metrics did not answer at %.0f s: %s" % (now - t0, e))
                        rounds = rows[-1][ROUNDS] if rows else 0
                    mock.requests()  # keeps the mock's request log short
                    row = (round(now - t0, 1), rss, window[0], window[1], window[2], window[3],
                           window[4], rounds, dec.lines, dec.unknown, dec.added, down,
                           window[5])
                    rows.append(row)
                    csv.write(",".join(str(x) for x in row) + "\n")
                    csv.flush()
                    if now - t0 >= warmup + SAMPLE_S and not window_saw_outage:
                        steady["fds"].append((now - t0, window[1]))
                        steady["fdsMax"].append((now - t0, window[2]))
                        steady["threads"].append((now - t0, window[3]))
                        steady["threadsMax"].append((now - t0, window[4]))
                    window, window_saw_outage = None, False
                    next_sample += SAMPLE_S
                if now >= next_reload:
                    reloads += 1
                    config(scalers_for_reload(a.scalers, reloads))
                    run.send_signal(signal.SIGHUP)
                    next_reload += a.reload_every
                if (not down and outage_for > 0 and now >= next_outage and
                        now + outage_for < t0 + duration - grace):
                    down = outages % 3 + 1
                    answer = mock.command("down %d" % down)
                    if answer != "ok":
                        failures.append("mock-fleet: down %d: %s" % (down, answer))
                    outages += 1
                    outage_until = now + outage_for
                    next_outage += outage_every
                    log("%.0f s: broker %d down for %g s" % (now - t0, down, outage_for))
                elif down and now >= outage_until:
                    answer = mock.command("up %d" % down)
                    if answer != "ok":
                        failures.append("mock-fleet: up %d: %s" % (down, answer))
                    outage_ends.append(now)
                    log("%.0f s: broker %d up" % (now - t0, down))
                    down = 0
                if int((now - t0) // 60) >= len(rounds_at_minute) and rows:
                    rounds_at_minute.append(rows[-1][ROUNDS])
                time.sleep(POLL_S)
        churn = mock.command("churn").split()
    except (BrokenPipeError, ValueError, IndexError):
        failures.append("mock-fleet died (see above): the soak could not go on")
        churn = []
    finally:
        fleet.stop(run)
        try:
            mock.close()
        except (BrokenPipeError, subprocess.TimeoutExpired):
            mock.p.kill()
    return report(a, rows, steady, everything, failures, reloads, outages, dec, churn,
                  rounds_at_minute, warmup, csv_path, svg_path, stderr_log)


def report(a, rows, steady, everything, failures, reloads, outages, dec, churn,
           rounds_at_minute, warmup, csv_path, svg_path, stderr_log):
    after = [r for r in rows if r[0] >= warmup]

    slope = fit([r[0] / 3600 for r in after], [r[ANON] / 1024 for r in after])
    slope_rss = fit([r[0] / 3600 for r in after], [r[2] / 1024 for r in after])
    if len(after) < 3:
        failures.append("too few samples after the warm-up (%d)" % len(after))
    elif slope >= a.max_growth:
        failures.append("anonymous RSS grows %.2f MB an hour after the warm-up (goal: under "
                        "%g): a leak? See %s" % (slope, a.max_growth, csv_path))
    if len(after) >= 3 and len(steady["fds"]) < 3:
        failures.append("too few samples after the warm-up without an outage or a failed round "
                        "(%d of %d): descriptors and threads not checked" % (
                            len(steady["fds"]), len(after)))
    for what, name in (("fds", "descriptors"), ("threads", "threads")):
        vals = [v for _, v in steady[what]]
        if vals and min(vals) != max(vals):
            first = vals[0]
            t, v = next((t, v) for t, v in steady[what] if v != first)
            failures.append("%s not flat after the warm-up: %d between rounds, then %d at "
                            "%.0f s (min %d, max %d)" % (name, first, v, t, min(vals), max(vals)))
        peak = [(t, v) for t, v in steady[what + "Max"] if vals and v > min(vals) + a.transient]
        if peak:
            failures.append("%d %s at %.0f s: more than %d (between rounds) + %d" % (
                peak[0][1], name, peak[0][0], min(vals), a.transient))
    # Rounds in every full minute after the first (a stuck loop fails).
    stuck = [i for i in range(1, len(rounds_at_minute))
             if rounds_at_minute[i] == rounds_at_minute[i - 1]]
    if stuck:
        failures.append("no round finished in minute%s %s" % (
            "s" if len(stuck) > 1 else "", ", ".join(str(i) for i in stuck)))
    if rows and dec.added < reloads and rows[-1][0] - reloads * a.reload_every > 3 * a.interval:
        failures.append("%d reloads sent, the last one applied was %d (no decision of its "
                        "scaler x%d-0)" % (reloads, dec.added, reloads))
    rounds = rows[-1][ROUNDS] if rows else 0
    rss_after = [r[2] for r in after] or [0]
    anon_after = [r[ANON] for r in after] or [0]

    def span(vals):
        return "%d / %d" % (min(vals), max(vals)) if vals else "-"

    table = [
        ("minutes", "%.1f (warm-up %.1f)" % (rows[-1][0] / 60 if rows else 0, warmup / 60)),
        ("scalers x partitions", "%d x %d, pollingInterval %d s" % (a.scalers, a.partitions,
                                                                   a.interval)),
        ("rounds", "%d (%d decisions, %d without a lag)" % (rounds, dec.lines, dec.unknown)),
        ("reloads sent / applied", "%d / %d" % (reloads, dec.added)),
        ("broker outages", "%d" % outages),
        ("churn: produced / commits / failed", " / ".join(churn) if churn else "-"),
        ("RSS after warm-up, min / max (MB)", "%.1f / %.1f" % (min(rss_after) / 1024,
                                                              max(rss_after) / 1024)),
        ("anonymous RSS after warm-up, min / max", "%.1f / %.1f" % (
            min(anon_after) / 1024, max(anon_after) / 1024)),
        ("anonymous RSS growth, fitted (MB/hour)", "%+.3f (goal: < %g)" % (slope, a.max_growth)),
        ("RSS growth, fitted (MB/hour)", "%+.3f (files' pages come and go)" % slope_rss),
        ("descriptors min / max (steady)", span([v for _, v in steady["fds"] +
                                                 steady["fdsMax"]])),
        ("descriptors min / max (all)", span(everything["fds"])),
        ("threads min / max (steady)", span([v for _, v in steady["threads"] +
                                             steady["threadsMax"]])),
        ("threads min / max (all)", span(everything["threads"])),
    ]
    w = max(len(k) for k, _ in table)
    for k, v in table:
        print("%-*s  %s" % (w, k, v))
    print("%-*s  %s" % (w, "CSV", csv_path))
    if a.chart_tool and rows:
        r = subprocess.run([a.chart_tool, csv_path, svg_path,
                            "lagscale soak: %d scalers, %.0f min, RSS %+.2f MB/h" % (
                                a.scalers, rows[-1][0] / 60, slope)],
                           capture_output=True, text=True)
        if r.returncode == 0:
            print("%-*s  %s" % (w, "SVG", svg_path))
        else:
            failures.append("the chart: %s" % r.stderr.strip())
    print("%-*s  %s" % (w, "lagscale log", stderr_log), flush=True)
    for f in failures:
        log("FAIL: " + f)
    if not failures:
        log("passed: RSS, descriptors and threads flat; every reload applied")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
