"""Concurrent scale patches, reads and Events (lib/kube/async.h) on the real
kube-apiserver, through test/e2e/tools/kube-async-tool.c, as the `lagscale`
user with the documented RBAC.

- 200 Deployments scaled at once (32 in flight): every patch succeeds, and
  every Deployment has the new count (read back through /scale by the same
  client, and by kubectl);
- more than one request was in flight at a time, on few connections (the
  apiserver speaks HTTP/2 over TLS: the requests are multiplexed);
- two Events per Deployment, the second queued behind the first: 200
  Events, each with a series of count 2;
- a dry run changes nothing; one request at a time (--max-in-flight 1)
  works too and never has two in flight.
"""
import json
import os

import e2e
import test_kube_lib as k

TOOL = os.environ.get("LAGSCALE_KUBE_ASYNC_TOOL", "kube-async-tool")
LAGSCALE_KUBECONFIG = os.environ.get("LAGSCALE_E2E_KUBECONFIG_LAGSCALE", "")
N = 200


def deployments(ns, prefix, n):
    items = []
    for i in range(n):
        name = "%s-%d" % (prefix, i)
        items.append({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [
                                      {"name": "c", "image": "registry.invalid/consumer:1"}]}}}})
    k.kubectl("-n", ns, "apply", "-f", "-", timeout=180,
              input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))


def tool(ns, prefix, replicas, *extra):
    p = e2e.run([TOOL, "--kubeconfig", LAGSCALE_KUBECONFIG, "--namespace", ns, "--prefix",
                 prefix, "--count", str(N), "--replicas", str(replicas)] + list(extra),
                timeout=240, check_rc=False)
    lines = e2e.json_lines(p.stdout)
    out = lines[-1] if lines else {}
    print("     kube-async-tool %s -> exit %d %s %s" % (" ".join(extra), p.returncode,
                                                       json.dumps(out), p.stderr.strip()))
    return p.returncode, out


def spec_replicas(ns):
    items = k.kubectl_json("-n", ns, "get", "deployments")["items"]
    return {d["metadata"]["name"]: d["spec"].get("replicas", 0) for d in items}


with k.Namespace("ls-async") as ns:
    k.grant(ns, "User", "lagscale")
    deployments(ns, "w", N)

    rc, out = tool(ns, "w", 2, "--read", "--events")
    e2e.check(rc == 0 and out.get("failed") == 0 and out.get("pending") == 0,
              "every patch, read and Event succeeded", out.get("firstError", ""))
    e2e.check(out.get("ok") == N * 4, "%d results (patches, reads, 2 Events each)" % (N * 4),
              str(out.get("ok")))
    e2e.check(out.get("readAtTarget") == N, "the client reads every /scale back at 2",
              str(out.get("readAtTarget")))
    e2e.check(1 < out.get("maxInFlightSeen", 0) <= 32,
              "requests were concurrent, at most 32 in flight",
              str(out.get("maxInFlightSeen")))
    e2e.check(0 < out.get("connections", 0) <= 4,
              "HTTP/2: %d requests on %s connection(s)" % (out.get("requests", 0),
                                                          out.get("connections")))
    reps = spec_replicas(ns)
    e2e.check(len(reps) == N and all(v == 2 for v in reps.values()),
              "kubectl sees all %d Deployments at 2 replicas" % N,
              str(sorted(set(reps.values()))))
    evs = [e for e in k.events(ns, "AsyncE2E")]
    counts = sorted(set((e.get("series") or {}).get("count", 1) for e in evs))
    e2e.check(len(evs) == N and counts == [2],
              "one Event per Deployment, each with a series of count 2",
              "%d events, counts %s" % (len(evs), counts))
    e2e.check(all(e["regarding"]["kind"] == "Deployment" and
                  e["regarding"]["name"].startswith("w-") for e in evs),
              "the Events regard the Deployments")

    rc, out = tool(ns, "w", 5, "--dry-run")
    e2e.check(rc == 0 and out.get("ok") == N, "a dry run of %d patches succeeds" % N,
              out.get("firstError", ""))
    reps = spec_replicas(ns)
    e2e.check(all(v == 2 for v in reps.values()), "... and changes nothing",
              str(sorted(set(reps.values()))))

    rc, out = tool(ns, "w", 0, "--max-in-flight", "1", "--read")
    e2e.check(rc == 0 and out.get("readAtTarget") == N,
              "one at a time: all %d scaled to 0 and read back" % N, out.get("firstError", ""))
    e2e.check(out.get("maxInFlightSeen") == 1, "... never two in flight",
              str(out.get("maxInFlightSeen")))
    reps = spec_replicas(ns)
    e2e.check(all(v == 0 for v in reps.values()), "kubectl sees all at 0",
              str(sorted(set(reps.values()))))

e2e.done()
