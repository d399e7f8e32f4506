#!/usr/bin/env python3
"""Prints scripts/bench's table from the JSON lines fleet.py wrote."""
import json
import os
import sys


def load(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        text = f.read().strip()
    return json.loads(text.splitlines()[-1]) if text else {}


def fmt(v, spec="%s"):
    return "–" if v is None else spec % v


def cell(d, key, spec):
    if isinstance(key, tuple):
        return " / ".join(fmt(d.get(k), spec) for k in key)
    return fmt(d.get(key), spec)


def main():
    out, sizes = sys.argv[1], [int(n) for n in sys.argv[2:]]
    rows = [
        ("first round (s)", "kafka", "first_round_s", "%.2f"),
        ("steady round (s)", "kafka", "steady_round_s", "%.3f"),
        ("rounds per interval", "kafka", "steady_rounds_per_interval", "%.2f"),
        ("CPU s per 5 s interval, steady", "kafka", "steady_cpu_s_per_interval", "%.3f"),
        ("CPU s per 5 s interval, after soak", "kafka", "soak_cpu_s_per_interval", "%.3f"),
        ("peak RSS (MB)", "kafka", "peak_rss_mb", "%.1f"),
        ("steady RSS (MB)", "kafka", "steady_rss_mb", "%.1f"),
        ("RSS after soak (MB)", "kafka", "soak_rss_mb", "%.1f"),
        ("Kafka requests per round", "kafka", "steady_kafka_requests_per_round", "%.0f"),
        ("mock cluster's CPU s per 5 s interval, steady", "kafka",
         "steady_mock_cpu_s_per_interval", "%.3f"),
        ("decisions without a lag per round, steady", "kafka",
         "steady_error_decisions_per_round", "%.0f"),
        ("log lines: first round / steady window", "kafka", ("first_round_warnings",
                                                            "steady_log_lines"), "%d"),
        ("API requests per round, steady", "kube", "steady_api_requests_per_round", "%.2f"),
        ("first round with the API server (s)", "kube", "first_round_s", "%.2f"),
        ("warm-up with the API server (s)", "kube", "warmup_s", "%.0f"),
        ("decisions without a lag per round with the API server", "kube",
         "steady_error_decisions_per_round", "%.0f"),
        ("log lines with the API server: first round / steady", "kube",
         ("first_round_warnings", "steady_log_lines"), "%d"),
        ("failed (Kafka side)", "kafka", "error", "%s"),
        ("failed (Kubernetes side)", "kube", "error", "%s"),
    ]
    data = {n: {"kafka": load(os.path.join(out, "kafka-%d.json" % n)),
                "kube": load(os.path.join(out, "kube-%d.json" % n))} for n in sizes}
    soak = next((d["kafka"].get("soak_min") for d in data.values() if d["kafka"]), None)
    print("| scalers × 20 partitions | " + " | ".join("%d" % n for n in sizes) + " |")
    print("| --- |" + " ---: |" * len(sizes))
    for label, side, key, spec in rows:
        if key in ("error",) and not any(data[n][side].get(key) for n in sizes):
            continue
        if "soak" in key and soak:
            label = label.replace("after soak", "after %g min" % soak)
        print("| %s | " % label + " | ".join(cell(data[n][side], key, spec)
                                          for n in sizes) + " |")
    names = {2: "ListOffsets", 3: "Metadata", 9: "OffsetFetch", 10: "FindCoordinator",
             15: "DescribeGroups", 18: "ApiVersions", 71: "GetTelemetrySubscriptions"}
    for n in sizes:
        k = data[n]["kafka"].get("steady_kafka_requests_by_key")
        if k:
            print("%d scalers: Kafka requests per round: %s" % (n, ", ".join(
                "%s %s" % (v, names.get(int(key), "ApiKey %s" % key)) for key, v in k.items())))
        if data[n]["kube"] and "error" not in data[n]["kube"]:
            v = data[n]["kube"].get("steady_api_requests_by_verb") or {}
            print("%d scalers: API requests per round (deployments, events): %s" % (
                n, ", ".join("%s %s" % (c, verb) for verb, c in v.items()) or "none"))

if __name__ == "__main__":
    main()
