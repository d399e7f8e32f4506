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
        ("API requests per round, steady", "kube", "steady_api_requests_per_round", "%.2f"),
        ("first round with the API server (s)", "kube", "first_round_s", "%.2f"),
    ]
    data = {n: {"kafka": load(os.path.join(out, "kafka-%d.json" % n)),
                "kube": load(os.path.join(out, "kube-%d.json" % n))} for n in sizes}
    soak = next((d["kafka"].get("soak_min") for d in data.values() if d["kafka"]), None)
    print("| scalers × 20 partitions | " + " | ".join("%d" % n for n in sizes) + " |")
    print("| --- |" + " ---: |" * len(sizes))
    for label, side, key, spec in rows:
        if "soak" in key and soak:
            label = label.replace("after soak", "after %g min" % soak)
        print("| %s | " % label + " | ".join(fmt(data[n][side].get(key), spec)
                                          for n in sizes) + " |")
    for n in sizes:
        for side in ("kafka", "kube"):
            d = data[n][side]
            for key in ("steady_kafka_requests_by_key", "steady_api_requests_by_verb"):
                if d.get(key):
                    print("%d scalers, %s: %s per round" % (n, key.split("_")[-3] if
                          "kafka" in key else "API", d[key]))


if __name__ == "__main__":
    main()
