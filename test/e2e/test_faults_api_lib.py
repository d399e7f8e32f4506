"""Helpers shared by the test_faults_api*.py rows (not a test itself).

The API-server half of the fault matrix: `lagscale run` talks to the real
kube-apiserver through tools/faultproxy.py in HTTP mode. The proxy ends
TLS with the apiserver's own serving certificate (issued for 127.0.0.1 by
the CA every e2e kubeconfig trusts), so lagscale verifies it as it would
the server, and the proxy can count, delay and answer requests by method
and path.
"""
import os
import re
import sys
import time
import urllib.request

import e2e
import test_kube_lib as k

sys.path.insert(0, os.path.join(e2e.E2E_DIR, "tools"))
import faultproxy  # noqa: E402

PKI = os.path.dirname(os.environ.get("LAGSCALE_E2E_KUBE_CA", ""))
ADMIN_TOKEN = os.environ.get("LAGSCALE_E2E_ADMIN_TOKEN", "")


def api_proxy():
    """A faultproxy in front of the environment's kube-apiserver."""
    upstream = k.APISERVER.split("://", 1)[1]
    return faultproxy.Client(upstream, tls_cert=os.path.join(PKI, "apiserver.crt"),
                             tls_key=os.path.join(PKI, "apiserver.key"),
                             upstream_ca=k.KUBE_CA)


def proxied_kubeconfig(proxy):
    """An admin kubeconfig whose server is the proxy."""
    path = os.path.join(k.tmpdir(), "kubeconfig")
    return k.kubeconfig(path, "{token: %s}" % ADMIN_TOKEN,
                        server="https://127.0.0.1:%d" % proxy.port)


def scale_path(ns, name, resource="deployments"):
    return "/apis/apps/v1/namespaces/%s/%s/%s/scale" % (ns, resource, name)


def log_of(proxy, method=None, path=None, since=0.0):
    """The proxy's answered requests [time, method, path, status, injected]."""
    return [e for e in proxy.requests()["log"]
            if (method is None or e[1] == method) and (path is None or e[2] == path)
            and e[0] >= since]


def inflight(proxy, method, path):
    return proxy.requests().get("inflight", {}).get("%s %s" % (method, path), 0)


def start(cfg, pod="fapi"):
    env = dict(os.environ, POD_NAME=pod)
    return e2e.Proc([e2e.LAGSCALE, "run", "--config", cfg, "--output", "json"], env=env)


def metric(proc, name):
    """The value of an unlabelled metric on the process's /metrics, or None."""
    m = re.search(r"\(port (\d+)\)", proc.stderr())
    if not m:
        return None
    try:
        with urllib.request.urlopen("http://127.0.0.1:%s/metrics" % m.group(1), timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


def set_lag(topic, group, lag_partitions, partitions=12):
    """Every partition holds 10 messages; lag 10 on the first lag_partitions."""
    e2e.commit(group, *[(topic, q, 0 if q < lag_partitions else 10)
                        for q in range(partitions)])


def wait_until(pred, timeout, step=0.1):
    return k.wait_until(pred, timeout, step)
