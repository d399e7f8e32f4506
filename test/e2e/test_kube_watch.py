"""The informer (lib/kube/watch.h) against the real kube-apiserver, through
kube-watch-tool:

- it lists the Deployments of a namespace once, then watches: a Deployment
  created afterwards appears, `kubectl scale` (a new generation), the pause
  annotations (good and bad values) and a deletion are seen within seconds;
- in a quiet stretch (10 s at least, until the API server's first
  BOOKMARK, about a minute) it sends no request at all: its counters say 1
  LIST and a WATCH, and the apiserver's own metrics agree (no LIST, no GET
  of deployments in that window, one WATCH in flight);
- a user without RBAC gets the API's 403 message (-EAGAIN) and, once
  granted, the objects; the failure and the recovery are logged once each,
  with no token in any output;
- a watch of every namespace finds the namespace's objects;
- 1,100 custom resources (a CRD with a scale subresource) are listed in
  three pages (limit 500, continue tokens), and the apiserver counts three
  LISTs.
"""
import json
import os
import queue
import re
import subprocess
import tempfile
import threading
import time

import e2e
import test_kube_lib as k

TOOL = os.environ.get("LAGSCALE_KUBE_WATCH_TOOL", "kube-watch-tool")
LAGSCALE_KUBECONFIG = os.environ.get("LAGSCALE_E2E_KUBECONFIG_LAGSCALE", "")


class Tool:
    """kube-watch-tool, driven one command (one JSON answer) at a time."""

    def __init__(self, kubeconfig, namespaces, api_version="apps/v1", kind="Deployment",
                 extra=()):
        args = [TOOL, "--kubeconfig", kubeconfig, "--api-version", api_version, "--kind", kind]
        for n in namespaces:
            args += ["--namespace", n]
        self.err_path = tempfile.mktemp(prefix="lagscale-e2e-watch-err-")
        self.err = open(self.err_path, "w")
        self.err_text = None
        self.p = subprocess.Popen(args + list(extra), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.err, text=True, bufsize=1)
        self.lines = queue.Queue()
        self.out = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.out.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def cmd(self, line, timeout=60):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        got = self.lines.get(timeout=timeout)
        if got is None:
            raise RuntimeError("kube-watch-tool exited: %s" % self.stderr()[-2000:])
        return json.loads(got)

    def get(self, name, ns=""):
        return self.cmd("get %s %s" % (name, ns))

    def stats(self):
        return self.cmd("stats")

    def wait_synced(self, ms):
        return self.cmd("wait-synced %d" % ms, timeout=ms / 1000 + 30)["ok"]

    def stderr(self):
        if self.err_text is not None:
            return self.err_text
        with open(self.err_path) as f:
            return f.read()

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(10)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait()
        self.err.close()
        self.err_text = self.stderr()
        os.unlink(self.err_path)
        return self.p.returncode


def metrics():
    """The apiserver's counters: {(metric, frozenset(labels)): value}."""
    text = k.kubectl("get", "--raw", "/metrics").stdout
    out = {}
    for line in text.splitlines():
        m = re.match(r'^(apiserver_request_total|apiserver_longrunning_requests)\{(.*)\} (\S+)$',
                     line)
        if not m:
            continue
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric_sum(ms, name, **want):
    total = 0.0
    for (n, labels), v in ms.items():
        d = dict(labels)
        if n == name and all(d.get(key) == val for key, val in want.items()):
            total += v
    return total


def delta(before, after, name, **want):
    return metric_sum(after, name, **want) - metric_sum(before, name, **want)


def until(pred, timeout):
    """(value, seconds): waits for pred() with a deadline."""
    t0 = time.time()
    v = k.wait_until(pred, timeout, step=0.05)
    return v, time.time() - t0


# --- a namespace of Deployments -------------------------------------------------

with k.Namespace("ls-watch") as ns:
    k.create_deployment(ns, "orders", 1)
    k.create_deployment(ns, "ledger", 1)
    k.wait_namespaces_settled()  # no other test's LISTs in the counts
    m0 = metrics()
    t = Tool(k.ADMIN_KUBECONFIG, [ns])
    try:
        e2e.check(t.wait_synced(20000), "the informer lists the namespace (synced)")
        g = t.get("orders")
        uid = k.kubectl_json("-n", ns, "get", "deployment", "orders")["metadata"]["uid"]
        e2e.check(g["result"] == "ok" and g["generation"] == 1 and g["uid"] == uid and
                  not g["paused"], "a Deployment that existed is there: generation 1, its uid",
                  str(g))
        e2e.check(t.get("nothing")["result"] == "ENOENT", "a missing one is ENOENT")

        k.create_deployment(ns, "payments", 1)
        v, secs = until(lambda: t.get("payments")["result"] == "ok", 10)
        e2e.check(v, "a Deployment created afterwards appears (watch ADDED)")
        print("     created seen after %.2f s" % secs)

        k.kubectl("-n", ns, "scale", "deployment", "orders", "--replicas=3")
        v, secs = until(lambda: t.get("orders").get("generation") == 2, 5)
        e2e.check(v, "kubectl scale is seen as generation 2 within 5 s", str(t.get("orders")))
        print("     scale seen after %.2f s" % secs)
        rv = k.resource_version(ns, "deployment", "orders")
        v, _ = until(lambda: int(t.get("orders")["resourceVersion"]) >= int(rv), 5)
        e2e.check(v, "the resourceVersion follows the object's",
                  "%s vs kubectl's %s" % (t.get("orders"), rv))

        k.kubectl("-n", ns, "annotate", "deployment", "ledger", "lagscale.io/paused=true")
        v, secs = until(lambda: t.get("ledger").get("paused") is True, 5)
        e2e.check(v, "annotating lagscale.io/paused=true is seen", str(t.get("ledger")))
        k.kubectl("-n", ns, "annotate", "--overwrite", "deployment", "ledger",
                  "lagscale.io/paused=maybe")
        want = 'bad annotation lagscale.io/paused: "maybe" (want "true" or "false")'
        v, _ = until(lambda: t.get("ledger").get("pauseError") == want, 5)
        g = t.get("ledger")
        e2e.check(v and g["paused"], "a bad value counts as paused, with scale.c's message",
                  str(g))
        k.kubectl("-n", ns, "annotate", "deployment", "ledger", "lagscale.io/paused-",
                  "lagscale.io/paused-replicas=2")
        v, _ = until(lambda: t.get("ledger").get("pausedReplicas") == 2, 5)
        g = t.get("ledger")
        e2e.check(v and g["paused"] and g["pauseError"] == "",
                  "lagscale.io/paused-replicas=2 is seen", str(g))

        k.kubectl("-n", ns, "delete", "deployment", "payments", "--wait=false")
        v, secs = until(lambda: t.get("payments")["result"] == "ENOENT", 10)
        e2e.check(v, "a deleted Deployment is ENOENT (watch DELETED)", str(t.get("payments")))

        s = t.stats()
        e2e.check(s["lists"] == 1 and s["watches"] >= 1 and s["relists"] == 0 and
                  s["failures"] == 0 and s["events"] >= 5,
                  "1 LIST, a WATCH, no relist, no failure, the events counted", str(s))
        g = t.get("orders")
        e2e.check(g["stale"] is False, "the watch is current (stream established)", str(g))

        # A quiet stretch: no change from the test, at least 10 s, and until
        # the API server's first periodic BOOKMARK (about a minute into the
        # watch), so that a real bookmark is parsed too.
        m1 = metrics()
        s1 = t.stats()
        q0 = time.time()
        v, secs = until(lambda: time.time() - q0 >= 10 and t.stats()["bookmarks"] >= 1, 100)
        s2 = t.stats()
        m2 = metrics()
        print("     quiet window of %.1f s" % (time.time() - q0))
        e2e.check(s2["bookmarks"] >= 1,
                  "the API server's BOOKMARKs arrive and are parsed", "%s -> %s" % (s1, s2))
        e2e.check(s2["lists"] == 1 and s1["lists"] == 1 and s2["watches"] == s1["watches"] and
                  s2["failures"] == 0,
                  "no LIST and no new WATCH while nothing changes", "%s -> %s" % (s1, s2))
        lists = delta(m1, m2, "apiserver_request_total", verb="LIST", resource="deployments",
                      scope="namespace")
        gets = delta(m1, m2, "apiserver_request_total", verb="GET", resource="deployments")
        e2e.check(lists == 0 and gets == 0,
                  "the apiserver counts no LIST and no GET of deployments in that window",
                  "LIST %s GET %s" % (lists, gets))
        watching = metric_sum(m2, "apiserver_longrunning_requests", verb="WATCH",
                              resource="deployments", scope="namespace")
        e2e.check(watching >= 1, "the apiserver has the WATCH in flight (longrunning gauge)",
                  str(watching))
        listed = delta(m0, m2, "apiserver_request_total", verb="LIST", resource="deployments",
                       scope="namespace")
        e2e.check(listed == s2["lists"] == 1,
                  "over the whole run the apiserver counted exactly the tool's one LIST",
                  "apiserver %s, tool %s" % (listed, s2["lists"]))
        print("     requests: tool %s; apiserver LIST %d, GET %d in the quiet window, "
              "WATCH in flight %d" % (s2, lists, gets, watching))

        # Every namespace: the namespace's objects through the all-namespaces watch.
        ta = Tool(k.ADMIN_KUBECONFIG, [""])
        try:
            e2e.check(ta.wait_synced(20000), "a watch of every namespace lists")
            g = ta.get("orders", ns)
            e2e.check(g["result"] == "ok" and g["generation"] == 2,
                      "it finds namespace/name (all-namespaces watch)", str(g))
        finally:
            ta.close()
    finally:
        rc = t.close()
    e2e.check(rc == 0, "the tool exits 0 (the informer stops)", str(rc))
    e2e.check("failed" not in t.stderr(), "no watch failure was logged", t.stderr()[-800:])

    # --- RBAC: 403, then granted ----------------------------------------------------
    tl = Tool(LAGSCALE_KUBECONFIG, [ns], extra=["--backoff-max-ms", "1000"])
    try:
        v, _ = until(lambda: "cannot list resource" in tl.get("orders").get("error", ""), 15)
        g = tl.get("orders")
        e2e.check(v and g["result"] == "EAGAIN" and 'User "lagscale"' in g["error"] and
                  "deployments" in g["error"],
                  "without RBAC: EAGAIN with the API's 403 message", str(g))
        k.grant(ns, "User", "lagscale")
        v, secs = until(lambda: tl.get("orders")["result"] == "ok", 30)
        e2e.check(v, "once granted, the objects are there", str(tl.get("orders")))
        print("     granted -> listed after %.1f s" % secs)
        v, _ = until(lambda: "works again" in tl.stderr(), 10)
    finally:
        tl.close()
    err = tl.stderr()
    e2e.check(err.count("failed:") == 1 and err.count("works again") == 1,
              "the failure is logged once and the recovery once", err[-1500:])
    secret = os.environ.get("LAGSCALE_E2E_LAGSCALE_TOKEN", "")
    e2e.check(secret and secret not in err and secret not in "".join(tl.out),
              "no token in the tool's output or log")

# --- 1,100 custom resources: three LIST pages -----------------------------------------

GROUP = "%s.lagscale-e2e.example.com" % e2e.uid("w")
CRD = k.consumer_crd(GROUP)

N = 1100
k.apply(CRD)
try:
    with k.Namespace("ls-watch-pages") as ns:
        k.kubectl("wait", "--for", "condition=established", "--timeout=60s",
                  "crd/consumers.%s" % GROUP)
        items = ",".join('{"apiVersion":"%s/v1alpha1","kind":"Consumer","metadata":'
                         '{"name":"c-%04d"},"spec":{"replicas":1}}' % (GROUP, i)
                         for i in range(N))
        t0 = time.time()
        k.kubectl("-n", ns, "create", "-f", "-",
                  input='{"apiVersion":"v1","kind":"List","items":[%s]}' % items, timeout=240)
        print("     created %d custom resources in %.1f s" % (N, time.time() - t0))
        k.wait_namespaces_settled()
        m0 = metrics()
        t = Tool(k.ADMIN_KUBECONFIG, [ns], api_version=GROUP + "/v1alpha1", kind="Consumer")
        try:
            e2e.check(t.wait_synced(60000), "the informer lists %d custom resources" % N)
            s = t.stats()
            e2e.check(s["objects"] == N and s["lists"] == 3,
                      "%d objects in 3 pages of at most 500 (continue tokens)" % N, str(s))
            g = t.get("c-%04d" % (N - 1))
            e2e.check(g["result"] == "ok" and g["generation"] == 1,
                      "the last page's objects are there", str(g))
            m1 = metrics()
            listed = delta(m0, m1, "apiserver_request_total", verb="LIST",
                           resource="consumers", group=GROUP)
            e2e.check(listed == 3, "the apiserver counted 3 LISTs of the custom resource",
                      str(listed))
            k.kubectl("-n", ns, "scale", "consumer.%s" % GROUP, "c-0042", "--replicas=4")
            v, secs = until(lambda: t.get("c-0042").get("generation") == 2, 5)
            e2e.check(v, "a scale of a custom resource is seen as generation 2",
                      str(t.get("c-0042")))
        finally:
            t.close()
finally:
    k.kubectl("delete", "crd", "consumers.%s" % GROUP, "--wait=false", check=False)

e2e.done()
