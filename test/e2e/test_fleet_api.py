"""Fleet scale against the real API server: 500 Deployments, 500 scalers.

After the first round, lagscale knows its targets from watches: the API
server's own request counters show no GET, LIST or PATCH of deployments in
two further rounds with no change, only the watch. A replica count changed
by hand (`kubectl scale`) is seen within one round.
"""
import json
import re
import time

import e2e
import test_kube_lib as k

N = 500
INTERVAL = 2.0


def requests_by_verb():
    """apiserver_request_total of deployments (any subresource), by verb."""
    text = k.kubectl("get", "--raw", "/metrics").stdout
    out = {}
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        m = re.match(r"^apiserver_request_total\{([^}]*)\}\s+(\S+)", line)
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels.get("resource") != "deployments":
            continue
        verb = labels.get("verb", "") + ("/" + labels["subresource"]
                                         if labels.get("subresource") else "")
        out[verb] = out.get(verb, 0) + float(m.group(2))
    return out


def watches_open():
    text = k.kubectl("get", "--raw", "/metrics").stdout
    n = 0
    for line in text.splitlines():
        if (line.startswith("apiserver_longrunning_requests{") and
                'resource="deployments"' in line and 'verb="WATCH"' in line):
            n += float(line.rsplit(None, 1)[1])
    return n


def rounds_done(out):
    """Complete rounds: decisions of the scaler seen least often."""
    counts = {}
    for d in k.decisions(out):
        counts[d["scaler"]] = counts.get(d["scaler"], 0) + 1
    return min(counts.values()) if len(counts) == N else 0


with k.Namespace("ls-fleet") as ns:
    # Replicas 0 and no lag: nothing to change, and no pods to make.
    items = [{"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "d%03d" % i, "namespace": ns},
              "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "d%03d" % i}},
                       "template": {"metadata": {"labels": {"app": "d%03d" % i}},
                                    "spec": {"containers": [{"name": "c",
                                                             "image": "busybox"}]}}}}
             for i in range(N)]
    k.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                     "items": items}), timeout=240)
    topic, group = e2e.uid("fleet"), e2e.uid("fleet-g")
    k.make_lag(topic, group, 2, 1, committed=1)
    policy = ("{lagThreshold: 10, minReplicas: 0, maxReplicas: 5, pollingInterval: %ds}"
              % INTERVAL)
    cfg = k.config([{"name": "s%03d" % i, "ns": ns, "target": "d%03d" % i, "group": group,
                     "topic": topic, "policy": policy} for i in range(N)],
                   kubeconfig_path=k.ADMIN_KUBECONFIG)
    proc = e2e.Proc([e2e.LAGSCALE, "run", "--config", cfg, "--output", "json"])
    try:
        e2e.check(proc.wait_for(lambda out: rounds_done(out) >= 1, 120),
                  "the first round decides for all %d scalers" % N, proc.stderr()[-2000:])
        first = k.decisions(proc.stdout())
        e2e.check(all(d["currentReplicas"] == 0 and d["desiredReplicas"] == 0
                      for d in first), "every target read at 0 replicas, nothing to change",
                  str([d for d in first if d["currentReplicas"] != 0][:2]))
        # Rounds 2 and 3: counted by the API server itself, once no other
        # test's namespace is being deleted (kube-controller-manager lists
        # and deletes its Deployments then).
        k.wait_namespaces_settled()
        seen = rounds_done(proc.stdout())
        before = requests_by_verb()
        e2e.check(proc.wait_for(lambda out: rounds_done(out) >= seen + 2, 60),
                  "two more rounds", proc.stderr()[-2000:])
        after = requests_by_verb()
        delta = {v: after.get(v, 0) - before.get(v, 0) for v in after
                 if after.get(v, 0) != before.get(v, 0)}
        # (kube-controller-manager writes the new Deployments' status:
        # PUT deployments/status is its, not lagscale's.)
        e2e.check(not any(v.split("/")[0] in ("GET", "LIST", "PATCH", "PUT", "POST")
                          for v in delta if v != "PUT/status"),
                  "no GET, LIST or write of deployments in two rounds with no change",
                  str(delta))
        e2e.check(watches_open() >= 1, "the targets are watched (a WATCH is open)")

        # A change by hand is seen within one round: counted in rounds, not
        # seconds (kubectl's own time and late rounds on a busy machine do
        # not count). The round under way when kubectl returns may miss it,
        # the next one may not.
        n_before = len(k.decisions(proc.stdout(), "s007"))
        k.kubectl("-n", ns, "scale", "deployment", "d007", "--replicas=3")
        changed = time.time()
        n_after = len(k.decisions(proc.stdout(), "s007"))
        ok = proc.wait_for(lambda out: any(d["currentReplicas"] == 3 for d in
                                           k.decisions(out, "s007")[n_before:]),
                           30 * INTERVAL)
        took = time.time() - changed
        e2e.check(ok, "kubectl scale to 3 is seen", str(k.decisions(proc.stdout(),
                                                                     "s007")[-2:]))
        ds = k.decisions(proc.stdout(), "s007")
        during = any(d["currentReplicas"] == 3 for d in ds[n_before:n_after])
        first = next((i for i, d in enumerate(ds[n_after:]) if d["currentReplicas"] == 3),
                     None)
        print("     seen %s, %.1f s after kubectl returned" % (
            "while kubectl ran" if during else "in round %s after" % first, took))
        e2e.check(during or (first is not None and first <= 1), "... within one round",
                  str([d["currentReplicas"] for d in ds[n_before:]]))
        after2 = requests_by_verb()
        reads = {v: after2.get(v, 0) - after.get(v, 0) for v in after2
                 if v.startswith("GET") and after2.get(v, 0) != after.get(v, 0)}
        e2e.check(sum(reads.values()) <= 2, "... with one read of its /scale",
                  str(reads))
    finally:
        rc = proc.stop()
    e2e.check(rc == 0, "run exits 0 on SIGTERM", str(rc))
e2e.done()
