"""RBAC: the `lagscale` token user of the environment (no permissions).

- with no permission at all, reading the target fails with the API's 403
  message, and nothing changes;
- allowed to read but not to patch deployments/scale: one clear error naming
  the verb and the resource ("cannot patch resource \"deployments/scale\"
  ... in the namespace ..."), logged once, exit 1 with --once, the replicas
  unchanged, a ScaleFailed Event; dry-run meets the same 403 (its patch
  reaches the server with ?dryRun=All, where RBAC is checked);
- granted exactly the documented rules (deploy/rbac.yaml: get/list/watch
  deployments and statefulsets, get/update/patch their /scale, create/patch
  events.k8s.io events, get/create/update leases), a leader-elected lagscale
  scales, records Events and holds the Lease, and releases it on SIGTERM.
"""
import os
import re

import e2e
import test_kube_lib as k

KC = os.environ["LAGSCALE_E2E_KUBECONFIG_LAGSCALE"]

with k.Namespace("ls-rbac") as ns:
    k.create_deployment(ns, "web", 1)
    topic, group = e2e.uid("krbac"), e2e.uid("krbac-g")
    k.make_lag(topic, group, 6, 10)
    scaler = [{"name": "web", "ns": ns, "target": "web", "group": group, "topic": topic}]
    cfg = k.config(scaler, kubeconfig_path=KC)

    # --- nothing granted ---------------------------------------------------------
    p = e2e.lagscale("run", "--config", cfg, "--once", "--output", "json")
    e2e.check(p.returncode == 1, "no permission: --once exits 1", p.stderr[-800:])
    # The targets are watched (LIST+WATCH), not read one by one.
    e2e.check('User "lagscale" cannot list resource "deployments" in API group "apps" in the '
              'namespace "%s"' % ns in p.stderr, "no permission: the 403 names list deployments",
              p.stderr[-800:])
    e2e.check(k.replicas(ns, "deployment", "web") == 1, "no permission: nothing changed")

    # --- read but not patch ------------------------------------------------------
    k.grant(ns, "User", "lagscale", rules="""
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["apps"]
  resources: ["deployments/scale"]
  verbs: ["get"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
""")
    want = ('deployments.apps "web" is forbidden: User "lagscale" cannot patch resource '
            '"deployments/scale" in API group "apps" in the namespace "%s"' % ns)
    ok = k.wait_until(lambda: want in e2e.lagscale("run", "--config", cfg, "--once",
                                                   "--dry-run").stderr, 10)
    p = e2e.lagscale("run", "--config", cfg, "--once", "--dry-run", "--output", "json")
    e2e.check(ok and p.returncode == 1 and want in p.stderr and "(dry-run)" in p.stderr,
              "dry-run: its patch is checked by RBAC and refused with the 403", p.stderr[-800:])
    p = e2e.lagscale("run", "--config", cfg, "--once", "--output", "json")
    ds = k.decisions(p.stdout, "web")
    e2e.check(p.returncode == 1, "no patch permission: --once exits 1", p.stderr[-800:])
    e2e.check(want in p.stderr, "the error names the verb, resource and namespace RBAC lacks",
              p.stderr[-800:])
    e2e.check(p.stderr.count("cannot patch resource") == 1, "... in one line")
    e2e.check(ds and ds[0]["desiredReplicas"] == 6 and ds[0]["applied"] is False,
              "the decision (6) is printed with applied false", str(ds))
    e2e.check(k.replicas(ns, "deployment", "web") == 1, "the replicas are unchanged (1)")
    ev = k.wait_until(lambda: k.events(ns, "ScaleFailed"), 10)
    e2e.check(ev and ev[0]["type"] == "Warning" and "cannot patch" in ev[0]["note"],
              "a Warning Event ScaleFailed carries the 403", str(ev))

    # --- exactly the documented rules ---------------------------------------------
    k.grant(ns, "User", "lagscale")
    cfg = k.config(scaler, kubeconfig_path=KC,
                   leader="namespace: %s, leaseName: lagscale, leaseDuration: 4s, "
                          "renewDeadline: 3s, retryPeriod: 1s" % ns)
    proc = e2e.Proc([e2e.LAGSCALE, "run", "--config", cfg, "--output", "json"])
    try:
        ok = k.wait_until(lambda: k.replicas(ns, "deployment", "web") == 6, 20)
        e2e.check(ok, "with the documented RBAC the Deployment is scaled to 6",
                  proc.stderr()[-1500:])
        m = re.search(r'identity \\?"([^"\\]+)', proc.stderr())
        ident = m.group(1) if m else "?"
        e2e.check(k.lease_holder(ns, "lagscale") == ident,
                  "it holds the Lease (holderIdentity is its identity)",
                  "%s vs %s" % (k.lease_holder(ns, "lagscale"), ident))
        ev = k.wait_until(lambda: k.events(ns, "ScaledUp"), 10)
        e2e.check(ev, "it records an Event ScaledUp")
        e2e.check("forbidden" not in proc.stderr(), "no 403 anywhere",
                  proc.stderr()[-1500:])
    finally:
        rc = proc.stop()
    e2e.check(rc == 0, "lagscale exits 0 on SIGTERM")
    l = k.lease(ns, "lagscale")
    spec = (l or {}).get("spec", {})
    e2e.check(l and not spec.get("holderIdentity") and spec.get("leaseDurationSeconds") == 1,
              "on SIGTERM the Lease is released (no holder, leaseDurationSeconds 1)", str(spec))
    e2e.check("released lease" in proc.stderr(), "... and the release is logged")
e2e.done()
