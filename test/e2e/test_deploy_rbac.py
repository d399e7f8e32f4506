"""The RBAC of deploy/ is sufficient and minimal, proven on the real
kube-apiserver.

deploy/serviceaccount.yaml and deploy/rbac.yaml are applied for real, their
rules unchanged, but into a namespace of this test's own (and with
cluster-scoped names of its own) so the shared API server is left as it
was. Then, as the ServiceAccount (impersonated with `kubectl auth can-i
--as`, and with a real token from `kubectl create token`): it CAN read
Deployments and StatefulSets, get/update/patch their /scale, create and
patch events.k8s.io Events, get/list/watch LagScalers and patch their
/status, get/create/update Leases in its namespace; it CANNOT delete or patch
a Deployment, create, change or delete a LagScaler (its spec), update its
status other than by patch, read Secrets, use Leases elsewhere, or anything
else tried below. The LagScaler CRD of deploy/ is applied for the token's
part (it is cluster-wide, and left in place)."""
import json
import os
import ssl
import tempfile
import urllib.error
import urllib.request

from e2e import check, done, run, uid

ROOT = os.environ.get("LAGSCALE_SOURCE_ROOT",
                      os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DEPLOY = os.path.join(ROOT, "deploy")
KUBECTL = os.environ["LAGSCALE_E2E_KUBECTL"]
ADMIN = os.environ["LAGSCALE_E2E_KUBECONFIG"]
SERVER = os.environ["LAGSCALE_E2E_APISERVER"]
CA = os.environ["LAGSCALE_E2E_KUBE_CA"]


def k(*args, input=None, check_rc=False):
    return run([KUBECTL, "--kubeconfig", ADMIN] + list(args), input=input, check_rc=check_rc)


def objects(path):
    text = k("create", "--dry-run=client", "-o", "json", "-f", path, check_rc=True).stdout
    dec, i, out = json.JSONDecoder(), 0, []
    text = text.strip()
    while i < len(text):
        o, i = dec.raw_decode(text, i)
        while i < len(text) and text[i].isspace():
            i += 1
        out.append(o)
    return out


ns = uid("lagscale-rbac")        # lagscale's own namespace (the Lease's)
shop = uid("rbac-shop")          # a namespace with a workload to scale
other = uid("rbac-other")        # somewhere else
crname = uid("lagscale-rbac")    # cluster-scoped names of this test
sa = "system:serviceaccount:%s:lagscale" % ns

objs = objects(os.path.join(DEPLOY, "serviceaccount.yaml")) + \
    objects(os.path.join(DEPLOY, "rbac.yaml"))
kinds = sorted(o["kind"] for o in objs)
check(kinds == ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount"],
      "deploy/ has exactly one ServiceAccount, ClusterRole, Role and their bindings", str(kinds))
rules = {o["kind"]: o["rules"] for o in objs if "rules" in o}
check(rules.get("ClusterRole") == [
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"],
     "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["apps"], "resources": ["deployments/scale", "statefulsets/scale"],
     "verbs": ["get", "update", "patch"]},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
    {"apiGroups": ["lagscale.io"], "resources": ["lagscalers"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["lagscale.io"], "resources": ["lagscalers/status"], "verbs": ["patch"]},
], "the ClusterRole's rules, exactly", json.dumps(rules.get("ClusterRole")))
check(rules.get("Role") == [
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
     "verbs": ["get", "create", "update"]},
], "the Role's rules, exactly", json.dumps(rules.get("Role")))

# Move the objects into this test's namespace and names; rules untouched.
for o in objs:
    md = o["metadata"]
    if o["kind"] in ("ClusterRole", "ClusterRoleBinding"):
        md["name"] = crname
    else:
        md["namespace"] = ns
    if "roleRef" in o and o["roleRef"]["kind"] == "ClusterRole":
        o["roleRef"]["name"] = crname
    for s in o.get("subjects", []):
        s["namespace"] = ns

try:
    for n in (ns, shop, other):
        k("create", "namespace", n, check_rc=True)
    k("apply", "-f", os.path.join(DEPLOY, "crd-lagscalers.yaml"), check_rc=True)
    k("wait", "--for", "condition=established", "crd/lagscalers.lagscale.io", "--timeout=60s",
      check_rc=True)
    p = k("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                 "items": objs}))
    check(p.returncode == 0, "RBAC of deploy/ applied for real", p.stderr)
    k("-n", shop, "create", "deployment", "web", "--image=registry.invalid/web:1",
      "--replicas=1", check_rc=True)
    k("-n", shop, "create", "secret", "generic", "db", "--from-literal=password=hunter2",
      check_rc=True)
    k("-n", other, "create", "deployment", "api", "--image=registry.invalid/api:1",
      check_rc=True)

    def can(verb, resource, namespace, sub=None):
        args = ["auth", "can-i", verb, resource, "-n", namespace, "--as", sa]
        if sub:
            args += ["--subresource", sub]
        return k(*args).stdout.strip() == "yes"

    allowed = [
        ("get", "deployments.apps", shop, None), ("list", "deployments.apps", shop, None),
        ("watch", "deployments.apps", other, None), ("get", "statefulsets.apps", shop, None),
        ("list", "statefulsets.apps", other, None),
        ("get", "deployments.apps", shop, "scale"), ("update", "deployments.apps", shop, "scale"),
        ("patch", "deployments.apps", shop, "scale"),
        ("get", "statefulsets.apps", other, "scale"),
        ("patch", "statefulsets.apps", other, "scale"),
        ("create", "events.events.k8s.io", shop, None),
        ("patch", "events.events.k8s.io", other, None),
        ("get", "leases.coordination.k8s.io", ns, None),
        ("create", "leases.coordination.k8s.io", ns, None),
        ("update", "leases.coordination.k8s.io", ns, None),
        ("get", "lagscalers.lagscale.io", shop, None),
        ("list", "lagscalers.lagscale.io", other, None),
        ("watch", "lagscalers.lagscale.io", shop, None),
        ("patch", "lagscalers.lagscale.io", shop, "status"),
        ("patch", "lagscalers.lagscale.io", other, "status"),
    ]
    denied = [
        ("delete", "deployments.apps", shop, None), ("patch", "deployments.apps", shop, None),
        ("update", "deployments.apps", shop, None), ("create", "deployments.apps", shop, None),
        ("delete", "statefulsets.apps", shop, None), ("patch", "statefulsets.apps", shop, None),
        ("get", "secrets", shop, None), ("list", "secrets", shop, None),
        ("get", "secrets", ns, None), ("list", "secrets", ns, None),
        ("get", "configmaps", shop, None), ("get", "pods", shop, None),
        ("create", "pods", shop, None), ("delete", "pods", shop, None),
        ("create", "pods", shop, "exec"),
        ("get", "leases.coordination.k8s.io", other, None),
        ("create", "leases.coordination.k8s.io", other, None),
        ("update", "leases.coordination.k8s.io", other, None),
        ("delete", "leases.coordination.k8s.io", ns, None),
        ("list", "leases.coordination.k8s.io", ns, None),
        ("create", "events", shop, None),  # the core group: lagscale uses events.k8s.io
        ("delete", "events.events.k8s.io", shop, None),
        ("get", "nodes", shop, None), ("list", "namespaces", shop, None),
        ("create", "clusterrolebindings.rbac.authorization.k8s.io", shop, None),
        ("update", "deployments.apps", shop, "status"),
        ("create", "horizontalpodautoscalers.autoscaling", shop, None),
        ("create", "lagscalers.lagscale.io", shop, None),
        ("update", "lagscalers.lagscale.io", shop, None),
        ("patch", "lagscalers.lagscale.io", shop, None),
        ("delete", "lagscalers.lagscale.io", shop, None),
        ("deletecollection", "lagscalers.lagscale.io", shop, None),
        ("update", "lagscalers.lagscale.io", shop, "status"),
        ("get", "lagscalers.lagscale.io", shop, "status"),
        ("create", "customresourcedefinitions.apiextensions.k8s.io", shop, None),
        ("*", "*", shop, None),
    ]
    for verb, res, n, sub in allowed:
        what = "%s %s%s in %s" % (verb, res, "/" + sub if sub else "", n.split("-")[1])
        check(can(verb, res, n, sub), "can %s" % what)
    for verb, res, n, sub in denied:
        what = "%s %s%s in %s" % (verb, res, "/" + sub if sub else "", n.split("-")[1])
        check(not can(verb, res, n, sub), "cannot %s" % what)

    # The same with a real token of the ServiceAccount, doing it.
    token = k("-n", ns, "create", "token", "lagscale", "--duration=10m", check_rc=True)
    token = token.stdout.strip()
    fd, kc = tempfile.mkstemp(prefix="lagscale-rbac-", suffix=".kubeconfig")
    with os.fdopen(fd, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "sa",
                   "clusters": [{"name": "e2e", "cluster": {"server": SERVER,
                                                             "certificate-authority": CA}}],
                   "users": [{"name": "sa", "user": {"token": token}}],
                   "contexts": [{"name": "sa", "context": {"cluster": "e2e", "user": "sa"}}]},
                  f)

    def as_sa(*args, input=None):
        return run([KUBECTL, "--kubeconfig", kc] + list(args), input=input, check_rc=False)

    p = as_sa("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    check(p.stdout.strip() == sa, "the token authenticates as %s" % sa, p.stdout + p.stderr)
    p = as_sa("-n", shop, "get", "deployment", "web")
    check(p.returncode == 0, "token: get the Deployment", p.stderr)
    p = as_sa("-n", shop, "patch", "deployment", "web", "--subresource=scale", "--type=merge",
              "-p", '{"spec":{"replicas":3}}')
    check(p.returncode == 0, "token: patch deployments/web/scale to 3", p.stderr)
    p = k("-n", shop, "get", "deployment", "web", "-o", "jsonpath={.spec.replicas}")
    check(p.stdout.strip() == "3", "the Deployment has 3 replicas", p.stdout)
    p = as_sa("-n", shop, "get", "--raw",
              "/apis/apps/v1/namespaces/%s/deployments/web/scale" % shop)
    check(p.returncode == 0 and '"replicas":3' in p.stdout, "token: read the scale", p.stderr)
    event = {"apiVersion": "events.k8s.io/v1", "kind": "Event",
             "metadata": {"name": uid("web.scaled"), "namespace": shop},
             "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "lagscale.io/lagscale",
             "reportingInstance": "lagscale-0", "action": "Scale", "reason": "ScaledUp",
             "type": "Normal", "note": "1 -> 3: lag 4500",
             "regarding": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": shop,
                           "name": "web"}}
    p = as_sa("create", "-f", "-", input=json.dumps(event))
    check(p.returncode == 0, "token: create an events.k8s.io Event", p.stderr)
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "lagscale", "namespace": ns},
             "spec": {"holderIdentity": "lagscale-0", "leaseDurationSeconds": 15}}
    p = as_sa("create", "-f", "-", input=json.dumps(lease))
    check(p.returncode == 0, "token: create its Lease", p.stderr)
    p = as_sa("-n", ns, "get", "lease", "lagscale", "-o", "json")
    check(p.returncode == 0, "token: get its Lease", p.stderr)
    if p.returncode == 0:
        got = json.loads(p.stdout)
        got["spec"]["holderIdentity"] = "lagscale-1"
        p = as_sa("replace", "-f", "-", input=json.dumps(got))
        check(p.returncode == 0, "token: update its Lease", p.stderr)

    def forbidden(p):
        return p.returncode != 0 and "Forbidden" in p.stderr

    # LagScalers: read them all, write their status, nothing else.
    ls = {"apiVersion": "lagscale.io/v1alpha1", "kind": "LagScaler",
          "metadata": {"name": "web", "namespace": shop},
          "spec": {"target": {"name": "web"}, "kafka": {"group": "g", "topics": ["t"]}}}
    k("create", "-f", "-", input=json.dumps(ls), check_rc=True)
    p = as_sa("get", "lagscalers.lagscale.io", "-A", "-o", "name")
    check(p.returncode == 0 and "lagscaler.lagscale.io/web" in p.stdout,
          "token: list LagScalers in all namespaces", p.stderr)
    p = as_sa("get", "--raw", "/apis/lagscale.io/v1alpha1/lagscalers?watch=1&timeoutSeconds=1")
    check(p.returncode == 0 and '"type":"ADDED"' in p.stdout,
          "token: watch LagScalers in all namespaces", p.stderr)
    # A merge patch of /status alone, as the controller sends it (kubectl patch
    # would GET the status first, which the rules do not need to allow).
    req = urllib.request.Request(
        "%s/apis/lagscale.io/v1alpha1/namespaces/%s/lagscalers/web/status" % (SERVER, shop),
        method="PATCH", headers={"Authorization": "Bearer " + token,
                                 "Content-Type": "application/merge-patch+json"},
        data=b'{"status":{"observedGeneration":1,"currentReplicas":3,"desiredReplicas":3}}')
    try:
        with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=CA),
                                    timeout=30) as r:
            code, body = r.status, ""
    except urllib.error.HTTPError as e:
        code, body = e.code, e.read().decode(errors="replace")
    check(code == 200, "token: PATCH a LagScaler's /status (merge patch)", "%d %s" % (code, body))
    p = k("-n", shop, "get", "lagscaler", "web", "-o", "jsonpath={.status.desiredReplicas}")
    check(p.stdout.strip() == "3", "the LagScaler's status says 3", p.stdout)

    p = as_sa("-n", shop, "patch", "lagscaler", "web", "--type=merge",
              "-p", '{"spec":{"policy":{"maxReplicas":100}}}')
    check(forbidden(p), "token: changing a LagScaler's spec is forbidden", p.stderr)
    p = as_sa("-n", shop, "delete", "lagscaler", "web")
    check(forbidden(p), "token: deleting a LagScaler is forbidden", p.stderr)
    ls["metadata"]["name"] = "evil"
    p = as_sa("create", "-f", "-", input=json.dumps(ls))
    check(forbidden(p), "token: creating a LagScaler is forbidden", p.stderr)

    p = as_sa("-n", shop, "delete", "deployment", "web")
    check(forbidden(p), "token: deleting a Deployment is forbidden", p.stderr)
    p = as_sa("-n", shop, "patch", "deployment", "web", "--type=merge",
              "-p", '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"evil"}]}}}}')
    check(forbidden(p), "token: patching a Deployment directly is forbidden", p.stderr)
    p = as_sa("-n", shop, "get", "secret", "db")
    check(forbidden(p), "token: reading a Secret is forbidden", p.stderr)
    p = as_sa("-n", ns, "get", "secrets")
    check(forbidden(p), "token: listing Secrets in its own namespace is forbidden", p.stderr)
    lease["metadata"]["namespace"] = other
    p = as_sa("create", "-f", "-", input=json.dumps(lease))
    check(forbidden(p), "token: a Lease in another namespace is forbidden", p.stderr)
    p = as_sa("-n", ns, "delete", "lease", "lagscale")
    check(forbidden(p), "token: deleting its Lease is forbidden", p.stderr)
    p = as_sa("-n", shop, "get", "pods")
    check(forbidden(p), "token: listing pods is forbidden", p.stderr)
    os.unlink(kc)
finally:
    for n in (ns, shop, other):
        k("delete", "namespace", n, "--wait=false")
    k("delete", "clusterrolebinding", crname, "--ignore-not-found")
    k("delete", "clusterrole", crname, "--ignore-not-found")

done()
