"""A bad scaler is isolated, and a ConfigMap edit is picked up without a
restart: `lagscale run` (not dry-run) on the real broker and API server.

- check-config refuses a cluster whose librdkafka property is misspelled,
  naming the cluster and the property at its file:line:col;
- `run` with that config keeps running: the good scaler's Deployment is
  scaled on the API server, the bad cluster's scaler gets a Warning Event
  KafkaConfigInvalid on its Deployment (with its uid), counts
  lagscale_errors_total{stage="config"}, and its Deployment is left alone;
  a scaler whose target does not exist gets a Warning Event TargetNotFound,
  one whose kind has no /scale (a CRD without the scale subresource) a
  Warning Event TargetReadFailed, once for the spell, not every round;
- the config is mounted as the kubelet mounts a ConfigMap (a "..data" link
  to a timestamped directory, the file a link through it) and swapped
  atomically: the fixed cluster is tried again and its scaler scales, the
  changed threshold of the good scaler shows in its decisions, and the
  missing target, once created, is scaled (the watch sees it);
- a swap to a config that does not parse is refused (logged, counted in
  lagscale_config_reloads_total{result="failure"}), the running config goes
  on, and it is not retried while the file stays the same.
"""
import os
import re
import shutil
import tempfile
import time
import urllib.request

import e2e
import test_kube_lib as k


def metric(port, name, **labels):
    """The value of the first sample of name with these labels, or None."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all('%s="%s"' % kv in line for kv in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


class ConfigMapDir:
    """A directory laid out as the kubelet mounts a ConfigMap."""

    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix="lagscale-e2e-cm-")
        self.name = name
        self.gen = 0

    @property
    def path(self):
        return os.path.join(self.dir, self.name)

    def write(self, text):
        self.gen += 1
        ts = "..2026_11_30_17_%02d_%02d.%d" % (self.gen // 60, self.gen % 60, os.getpid())
        os.mkdir(os.path.join(self.dir, ts))
        with open(os.path.join(self.dir, ts, self.name), "w") as f:
            f.write(text)
        data = os.path.join(self.dir, "..data")
        old = os.readlink(data) if os.path.islink(data) else None
        tmp = os.path.join(self.dir, "..data_tmp")
        os.symlink(ts, tmp)
        os.rename(tmp, data)  # the atomic swap
        if not os.path.islink(self.path):
            os.symlink(os.path.join("..data", self.name), self.path)
        if old:
            shutil.rmtree(os.path.join(self.dir, old))

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def config(port, ns, g_good, t_good, g_bad, t_bad, g_late, t_late, g_plain, t_plain, typo=True,
           good_threshold=10):
    props = "      properties: {sasl.usernme: lagscale}\n" if typo else ""
    scaler = ("  - name: %s\n"
              "    target: {apiVersion: apps/v1, kind: Deployment, namespace: %s, name: %s}\n"
              "    kafka: {cluster: %s, group: %s, topics: [%s]}\n"
              "    policy: %s\n")
    policy = k.FAST_POLICY
    good_policy = policy.replace("lagThreshold: 10", "lagThreshold: %d" % good_threshold)
    return ("kafka:\n"
            "  clusters:\n"
            "    - name: main\n"
            "      bootstrapServers: \"%s\"\n"
            "    - name: team-b\n"
            "      bootstrapServers: \"%s\"\n" % (e2e.KAFKA, e2e.KAFKA) + props +
            "leaderElection: {enabled: false}\n"
            "server: {address: \"127.0.0.1:%d\"}\n"
            "scalers:\n" % port +
            scaler % ("good", ns, "good", "main", g_good, t_good, good_policy) +
            scaler % ("bad", ns, "bad", "team-b", g_bad, t_bad, policy) +
            scaler % ("late", ns, "late", "main", g_late, t_late, policy) +
            scaler.replace("apps/v1, kind: Deployment", "%s/v1alpha1, kind: Consumer" % GROUP)
            % ("plain", ns, "plain", "main", g_plain, t_plain, policy))


# A CRD like test_kube_lib's Consumer, without the scale subresource.
GROUP = "%s.lagscale-e2e.example.com" % e2e.uid("noscale")
CRD = k.consumer_crd(GROUP).split("    subresources:")[0]


k.apply(CRD)
with k.Namespace("ls-isolate") as ns:
    k.kubectl("wait", "--for", "condition=established", "--timeout=60s",
              "crd/consumers.%s" % GROUP)
    k.apply("apiVersion: %s/v1alpha1\nkind: Consumer\nmetadata: {name: plain}\n"
            "spec: {replicas: 1}\n" % GROUP, ns)
    k.create_deployment(ns, "good", 1)
    k.create_deployment(ns, "bad", 1)
    t_good, g_good = e2e.uid("iso-good"), e2e.uid("iso-good-g")
    t_bad, g_bad = e2e.uid("iso-bad"), e2e.uid("iso-bad-g")
    t_late, g_late = e2e.uid("iso-late"), e2e.uid("iso-late-g")
    k.make_lag(t_good, g_good, 6, 10)  # lag 60: 6 replicas at 10, 3 at 20
    k.make_lag(t_bad, g_bad, 3, 10)    # lag 30: 3 replicas
    k.make_lag(t_late, g_late, 2, 10)  # lag 20: 2 replicas
    t_plain, g_plain = e2e.uid("iso-plain"), e2e.uid("iso-plain-g")
    k.make_lag(t_plain, g_plain, 1, 10)
    port = e2e.free_port()
    names = (ns, g_good, t_good, g_bad, t_bad, g_late, t_late, g_plain, t_plain)
    cm = ConfigMapDir("lagscale.yaml")
    cm.write(config(port, *names))

    # check-config refuses what run would refuse, naming cluster and property.
    r = e2e.lagscale("check-config", cm.path)
    e2e.check(r.returncode == 2 and
              '%s:7:20: kafka.clusters[1].properties.sasl.usernme: cluster "team-b": property '
              '"sasl.usernme"' % cm.path in r.stderr,
              "check-config exits 2 naming the cluster and the misspelled property at its place",
              "rc %d: %s%s" % (r.returncode, r.stdout, r.stderr))

    env = dict(os.environ, KUBECONFIG=k.ADMIN_KUBECONFIG)
    env.pop("KUBERNETES_SERVICE_HOST", None)
    p = e2e.Proc([e2e.LAGSCALE, "run", "--config", cm.path, "--output", "json"], env=env)
    try:
        up = k.wait_until(lambda: k.replicas(ns, "deployment", "good") == 6, 60)
        e2e.check(up, "the good scaler scales its Deployment to 6 beside the bad cluster",
                  "replicas %s, rc %s\n%s" % (k.replicas(ns, "deployment", "good"), p.p.poll(),
                                              p.stderr()[-1500:]))
        ev = k.wait_until(lambda: [e for e in k.events(ns, "KafkaConfigInvalid")
                                   if e["regarding"]["name"] == "bad"], 20)
        uid_bad = k.kubectl_json("-n", ns, "get", "deployment", "bad")["metadata"]["uid"]
        e2e.check(ev and ev[0]["type"] == "Warning" and "sasl.usernme" in ev[0]["note"] and
                  ev[0]["regarding"].get("uid") == uid_bad,
                  "the bad cluster's scaler gets a Warning Event KafkaConfigInvalid on its "
                  "Deployment, naming the property", str(ev))
        err = k.wait_until(lambda: (metric(port, "lagscale_errors_total", scaler="bad",
                                           stage="config") or 0) >= 2, 20)
        e2e.check(err, "lagscale_errors_total{scaler=\"bad\",stage=\"config\"} counts each "
                  "round", str(metric(port, "lagscale_errors_total", scaler="bad",
                                      stage="config")))
        e2e.check(k.replicas(ns, "deployment", "bad") == 1,
                  "the bad scaler's Deployment is left alone")
        e2e.check('Kafka cluster "team-b": property "sasl.usernme"' in p.stderr() and
                  'scaler="bad"' in p.stderr(),
                  "the log names the cluster, the property and the scaler",
                  p.stderr()[-1500:])
        bad = k.decisions(p.stdout(), "bad")
        e2e.check(bad and all(d["action"] == "error" and not d["applied"] for d in bad),
                  "the bad scaler's decisions are errors, never applied", str(bad[:1]))
        nf = k.wait_until(lambda: [e for e in k.events(ns, "TargetNotFound")
                                   if e["regarding"]["name"] == "late"], 20)
        e2e.check(nf and nf[0]["type"] == "Warning" and "not found" in nf[0]["note"],
                  "the scaler of a missing target gets a Warning Event TargetNotFound", str(nf))
        ns404 = k.wait_until(lambda: [e for e in k.events(ns, "TargetReadFailed")
                                      if e["regarding"]["name"] == "plain"], 20)
        e2e.check(ns404 and ns404[0]["type"] == "Warning" and
                  ns404[0]["regarding"]["kind"] == "Consumer" and
                  "no scale subresource" in ns404[0]["note"],
                  "a target whose kind has no /scale gets a Warning Event TargetReadFailed",
                  str(ns404) + p.stderr()[-800:])
        # Rounds go on; a repeated Event would show as a series (kube.h).
        n_plain = len(k.decisions(p.stdout(), "plain"))
        k.wait_until(lambda: len(k.decisions(p.stdout(), "plain")) >= n_plain + 3, 20)
        again = [e for e in k.events(ns, "TargetReadFailed")
                 if e["regarding"]["name"] == "plain"]
        e2e.check(len(again) == 1 and "series" not in again[0],
                  "... recorded once for the episode, not every round", str(again))
        e2e.check(p.p.poll() is None, "lagscale keeps running")

        # The ConfigMap is edited: the cluster fixed, the good scaler's
        # threshold doubled (lag 60 -> 3 replicas).
        n_good = len(k.decisions(p.stdout(), "good"))
        cm.write(config(port, *names, typo=False, good_threshold=20))
        fixed = k.wait_until(lambda: k.replicas(ns, "deployment", "bad") == 3, 60)
        e2e.check(fixed, "after the swap, the fixed cluster is tried again and its scaler "
                  "scales to 3, without a restart",
                  "replicas %s\n%s" % (k.replicas(ns, "deployment", "bad"), p.stderr()[-1500:]))
        e2e.check('reloaded "%s"' % cm.path in p.stderr(), "the reload is logged")
        e2e.check(metric(port, "lagscale_config_reloads_total", result="success") == 1,
                  "lagscale_config_reloads_total{result=\"success\"} is 1",
                  str(metric(port, "lagscale_config_reloads_total", result="success")))
        later = k.wait_until(
            lambda: [d for d in k.decisions(p.stdout(), "good")[n_good:]
                     if d["recommendedReplicas"] == 3], 30)
        e2e.check(later, "the changed threshold shows in the good scaler's decisions "
                  "(recommended 3 at lagThreshold 20)", str(k.decisions(p.stdout(), "good")[-2:]))
        # The missing target appears: the watch shows it, it is scaled.
        k.create_deployment(ns, "late", 1)
        late = k.wait_until(lambda: k.replicas(ns, "deployment", "late") == 2, 60)
        e2e.check(late, "the target created later is picked up and scaled to 2",
                  "replicas %s" % k.replicas(ns, "deployment", "late"))

        # A swap to a config that does not parse: refused, counted, once.
        cm.write("scalers: [\n")
        refused = k.wait_until(
            lambda: metric(port, "lagscale_config_reloads_total", result="failure") == 1, 30)
        e2e.check(refused, "a swap to an invalid config is counted as a failed reload",
                  p.stderr()[-1000:])
        e2e.check(metric(port, "lagscale_config_last_reload_successful") == 0,
                  "lagscale_config_last_reload_successful is 0")
        e2e.check(re.search(r'reload: "%s" is not valid' % re.escape(cm.path), p.stderr()),
                  "the refused reload is logged with the file", p.stderr()[-1000:])
        e2e.check("lagscale.yaml:2:1" in p.stderr() or "lagscale.yaml:1:" in p.stderr(),
                  "... and the place of the error", p.stderr()[-1000:])
        # Not retried while the file stays the same: three watch intervals
        # (2 s each) and several rounds later, still one failure.
        n_dec = len(k.decisions(p.stdout(), "good"))
        k.wait_until(lambda: len(k.decisions(p.stdout(), "good")) >= n_dec + 6, 30)
        e2e.check(metric(port, "lagscale_config_reloads_total", result="failure") == 1 and
                  p.stderr().count("is not valid") == 1,
                  "the invalid file is not retried in a loop",
                  str(metric(port, "lagscale_config_reloads_total", result="failure")))
        down = k.wait_until(lambda: k.replicas(ns, "deployment", "good") == 3, 30)
        e2e.check(p.p.poll() is None and down,
                  "the running config goes on (the good scaler settles at 3)")
    finally:
        rc = p.stop()
        cm.cleanup()
    e2e.check(rc == 0, "lagscale exits 0 on SIGTERM", "rc %s\n%s" % (rc, p.stderr()[-2000:]))
k.kubectl("delete", "crd", "consumers.%s" % GROUP, "--wait=false", check=False)
e2e.done()
