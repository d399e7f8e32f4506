"""Pod hardening checks shared by test_deploy_manifests.py and
test_deploy_helm.py (not a test itself).

check_pod() checks, field by field, what docs/operations.md ("Security
model") promises of a rendered Deployment and its ServiceAccount: non-root
with a numeric user and group, a read-only root file system and no writable
volume (lagscale writes nothing to disk), no capabilities, no privilege
escalation, RuntimeDefault seccomp, nothing of the host, one port, and no
service-account token but the projected one, mounted read-only at the path
lagscale reads (lib/kube/kubeconfig.h, LS_KUBE_SA_DIR) with a bounded life.

admitted_restricted() asks the real kube-apiserver's own PodSecurity
admission: the Deployment's pod, created (server-side dry run) in a
namespace that enforces the `restricted` level, is accepted, while the same
pod with one setting loosened is refused (proof that admission is on).
"""
import copy
import json
import os

from e2e import check, uid

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# The API server refuses a shorter life; a day is the longest we call bounded.
TOKEN_MIN, TOKEN_MAX = 600, 86400


def _containers(spec):
    return spec.get("initContainers", []) + spec.get("containers", [])


def check_pod(dep, sa, what):
    """Checks the pod template of Deployment object dep and ServiceAccount
    object sa (None when the test renders none); what names the variant."""
    spec = dep["spec"]["template"]["spec"]
    psc = spec.get("securityContext", {})
    token_vol = None
    for c in _containers(spec):
        csc = c.get("securityContext", {})
        name = "%s, container %s" % (what, c["name"])

        def eff(key):
            return csc.get(key, psc.get(key))

        check(eff("runAsNonRoot") is True, "runAsNonRoot (%s)" % name, str(psc) + str(csc))
        for key in ("runAsUser", "runAsGroup"):
            v = eff(key)
            check(isinstance(v, int) and not isinstance(v, bool) and v > 0,
                  "%s is a numeric non-root id (%s)" % (key, name), str(v))
        sec = csc.get("seccompProfile", psc.get("seccompProfile", {}))
        check(sec.get("type") == "RuntimeDefault", "seccompProfile RuntimeDefault (%s)" % name,
              str(sec))
        check(csc.get("readOnlyRootFilesystem") is True,
              "readOnlyRootFilesystem (%s)" % name, str(csc))
        check(csc.get("allowPrivilegeEscalation") is False,
              "allowPrivilegeEscalation false (%s)" % name, str(csc))
        caps = csc.get("capabilities", {})
        check(caps.get("drop") == ["ALL"] and not caps.get("add"),
              "capabilities: drop ALL, add none (%s)" % name, str(caps))
        check(not csc.get("privileged"), "not privileged (%s)" % name)
        ports = c.get("ports", [])
        check(len(ports) == 1 and ports[0].get("name") == "metrics" and
              "hostPort" not in ports[0], "one port, metrics, no host port (%s)" % name,
              str(ports))
        mounts = c.get("volumeMounts", [])
        check(all(m.get("readOnly") is True for m in mounts),
              "every volume mount is read-only: nothing is written (%s)" % name, str(mounts))
        sa_mounts = [m for m in mounts if m["mountPath"] == SA_DIR]
        check(len(sa_mounts) == 1, "the token volume is mounted at %s (%s)" % (SA_DIR, name),
              str(mounts))
        token_vol = sa_mounts[0]["name"] if sa_mounts else None
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        check(not spec.get(key), "no %s (%s)" % (key, what))
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    check(not [n for n, v in vols.items() if "hostPath" in v or "emptyDir" in v],
          "no hostPath and no emptyDir: lagscale writes nothing to disk (%s)" % what,
          str(list(vols)))
    check(spec.get("automountServiceAccountToken") is False,
          "the pod gets no default token mount (%s)" % what)
    if sa is not None:
        check(sa.get("automountServiceAccountToken") is False,
              "the ServiceAccount's token is not mounted by default (%s)" % what, str(sa))
    v = vols.get(token_vol, {}).get("projected", {})
    sources = v.get("sources", [])
    tokens = [s["serviceAccountToken"] for s in sources if "serviceAccountToken" in s]
    exp = tokens[0].get("expirationSeconds") if tokens else None
    check(len(tokens) == 1 and tokens[0].get("path") == "token" and
          isinstance(exp, int) and TOKEN_MIN <= exp <= TOKEN_MAX,
          "a projected token at %s/token with a bounded life (%s)" % (SA_DIR, what),
          str(tokens))
    if exp is not None:
        print("# %s: token expirationSeconds %s" % (what, exp))
    cas = [s["configMap"] for s in sources if "configMap" in s]
    check(cas and cas[0].get("name") == "kube-root-ca.crt" and
          cas[0].get("items") == [{"key": "ca.crt", "path": "ca.crt"}],
          "ca.crt from kube-root-ca.crt beside it (%s)" % what, str(cas))
    dapi = [i for s in sources if "downwardAPI" in s for i in s["downwardAPI"]["items"]]
    check(dapi == [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}] or
          dapi == [{"path": "namespace",
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}],
          "and the namespace (%s)" % what, str(dapi))
    # Nothing else of the pod can carry a token or a Secret lagscale did not ask for.
    check(len(tokens) == 1 and not any("serviceAccountToken" in s for n, vv in vols.items()
                                       if n != token_vol
                                       for s in vv.get("projected", {}).get("sources", [])),
          "one token source in the pod (%s)" % what)


def admitted_restricted(k, dep, what):
    """k(*args, input=None) runs kubectl as the admin. Creates a namespace
    enforcing PodSecurity `restricted` (deleted afterwards) with the pod's
    ServiceAccount, and dry-runs the Deployment's pod there."""
    ns = uid("lagscale-restricted")
    nso = {"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": ns, "labels": {
               "pod-security.kubernetes.io/enforce": "restricted",
               "pod-security.kubernetes.io/enforce-version": "latest"}}}
    spec = copy.deepcopy(dep["spec"]["template"]["spec"])
    sa_name = spec.get("serviceAccountName", "default")
    try:
        p = k("create", "-f", "-", input=json.dumps(nso))
        if not check(p.returncode == 0, "a namespace enforcing restricted (%s)" % what,
                     p.stderr):
            return
        if sa_name != "default":
            p = k("-n", ns, "create", "serviceaccount", sa_name)
            check(p.returncode == 0, "its ServiceAccount (%s)" % what, p.stderr)

        def pod(s):
            return json.dumps({"apiVersion": "v1", "kind": "Pod",
                               "metadata": {"name": "lagscale", "namespace": ns,
                                            "labels": dep["spec"]["template"]["metadata"]
                                            .get("labels", {})},
                               "spec": s})

        p = k("create", "-f", "-", "--dry-run=server", "-o", "json", input=pod(spec))
        check(p.returncode == 0 and "PodSecurity" not in p.stderr,
              "the API server's PodSecurity admission accepts the pod under "
              "enforce=restricted (%s)" % what, p.stderr)
        if p.returncode == 0:
            got = json.loads(p.stdout)["spec"]
            mounts = [m for m in got["containers"][0].get("volumeMounts", [])]
            check(len(got.get("volumes", [])) == len(spec.get("volumes", [])) and
                  len([m for m in mounts if m["mountPath"] == SA_DIR]) == 1,
                  "admission added no token volume of its own (%s)" % what, str(mounts))
        # The control: one loosened setting is refused, so admission is on.
        loose = copy.deepcopy(spec)
        loose["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
        p = k("create", "-f", "-", "--dry-run=server", input=pod(loose))
        check(p.returncode != 0 and "violates PodSecurity" in p.stderr and
              "allowPrivilegeEscalation" in p.stderr,
              "control: with allowPrivilegeEscalation the same pod is refused (%s)" % what,
              p.stderr)
    finally:
        k("delete", "namespace", ns, "--wait=false")


def process_footprint(pid):
    """(listening TCP sockets, files open for writing) of a running
    process, from /proc: fds 0-2 (the test's pipes) left out."""
    inodes, writable = set(), []
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        if int(fd) <= 2:
            continue
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                flags = int([l for l in f if l.startswith("flags:")][0].split()[1], 8)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
        elif target.startswith("/") and flags & (os.O_WRONLY | os.O_RDWR):
            writable.append(target)
    listening = []
    for table in ("/proc/%d/net/tcp" % pid, "/proc/%d/net/tcp6" % pid):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            col = row.split()
            if col[3] == "0A" and col[9] in inodes:  # 0A: LISTEN
                listening.append(col[1])
    return listening, writable
