"""Every kubeconfig credential form, in-cluster mode, and TLS, against the
real kube-apiserver.

Each case runs `lagscale run --dry-run` (reads /scale and the annotations,
sends the patch with ?dryRun=All: every request authenticated and
authorized) and checks that it saw the real replicas (3) and would set 6:
- token; tokenFile rotated mid-run (the old token revoked: lagscale re-reads
  the file after the 401 and goes on without an error);
- client certificate and key, as files (relative to the kubeconfig) and as
  -data; and from an exec plugin (v1beta1);
- exec plugin (v1) with env, args and KUBERNETES_EXEC_INFO, whose token
  expires after 3 s: fetched again after expiry, cached in between; an exec
  credential refused with 401 is fetched again at once;
- in-cluster (KUBERNETES_SERVICE_HOST/PORT and LAGSCALE_SERVICEACCOUNT_DIR);
- ~/.kube/config with no flag; KUBECONFIG with several files merged
  (first wins, missing skipped, relative paths per file); --context over
  kubernetes.context;
- TLS: a wrong CA and a wrong tls-server-name fail with a TLS error; a
  right tls-server-name, certificate-authority-data and
  insecure-skip-tls-verify work.
username/password is not tested: kube-apiserver has had no basic auth since
1.19, so the environment's cannot accept it (lagscale sends it as
client-go does; the unit tests parse it).
"""
import base64
import datetime
import json
import os
import shutil
import time
from urllib.parse import urlparse

import e2e
import test_kube_lib as k

with k.Namespace("ls-auth") as ns:
    tmp = k.tmpdir()
    k.create_deployment(ns, "web", 3)
    topic, group = e2e.uid("kauth"), e2e.uid("kauth-g")
    k.make_lag(topic, group, 6, 10)
    scaler = [{"name": "web", "ns": ns, "target": "web", "group": group, "topic": topic}]
    cfg = k.config(scaler)
    k.kubectl("-n", ns, "create", "serviceaccount", "bot")
    k.grant(ns, "ServiceAccount", "bot", subject_ns=ns)
    token = k.sa_token(ns, "bot")
    base_env = {n: v for n, v in os.environ.items()
                if n not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")}
    base_env["HOME"] = tmp

    def dry_once(what, *args, env=None, config=cfg, want_rc=0):
        p = e2e.lagscale("run", "--config", config, "--dry-run", "--once", "--output", "json",
                         *args, env=env or base_env)
        ds = k.decisions(p.stdout, "web")
        good = (p.returncode == want_rc and len(ds) == 1 and ds[0]["currentReplicas"] == 3 and
                ds[0]["desiredReplicas"] == 6 and ds[0]["action"] == "scale_up")
        e2e.check(good, what, "rc %d\n%s\n%s" % (p.returncode, p.stdout[-500:],
                                                 p.stderr[-1500:]))
        e2e.check(token not in p.stdout + p.stderr, "%s: no token in the output" % what)
        return p

    def write(name, text, mode=0o600):
        path = os.path.join(tmp, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    # --- token ------------------------------------------------------------------
    kc = k.kubeconfig(os.path.join(tmp, "token.yaml"), "{token: %s}" % token)
    p = dry_once("token: authenticated, real replicas read, dry-run patch accepted",
                 "--kubeconfig", kc)
    e2e.check('user "u" (token)' in p.stderr, "the start-up log says token, not the token")

    # --- tokenFile, rotated mid-run ---------------------------------------------------
    k.kubectl("-n", ns, "create", "secret", "generic", "s1")
    k.kubectl("-n", ns, "create", "secret", "generic", "s2")
    tok1 = k.sa_token(ns, "bot", bound_secret="s1")
    tok2 = k.sa_token(ns, "bot", bound_secret="s2")
    os.makedirs(os.path.join(tmp, "rot"))
    write("rot/token", tok1 + "\n")
    kc = k.kubeconfig(os.path.join(tmp, "rot", "kubeconfig"), "{tokenFile: token}")
    proc = e2e.Proc([e2e.LAGSCALE, "run", "--config", cfg, "--dry-run", "--output", "json",
                     "--kubeconfig", kc], env=base_env)
    try:
        ok = proc.wait_for(lambda out: len(k.decisions(out)) >= 2, 15)
        e2e.check(ok and all(d["currentReplicas"] == 3 for d in k.decisions(proc.stdout())),
                  "tokenFile (relative to the kubeconfig): works", proc.stderr()[-800:])
        write("rot/token", tok2 + "\n")
        k.kubectl("-n", ns, "delete", "secret", "s1")
        old_kc = k.kubeconfig(os.path.join(tmp, "old.yaml"), "{token: %s}" % tok1)
        revoked = k.wait_until(lambda: k.kubectl("-n", ns, "get", "deployment", "web",
                                                 kubeconfig=old_kc, check=False).returncode != 0,
                               15)
        e2e.check(revoked, "the first token is revoked (its Secret deleted)")
        n = len(k.decisions(proc.stdout()))
        proc.wait_for(lambda out: len(k.decisions(out)) >= n + 3, 15)
        after = k.decisions(proc.stdout())[n:]
        e2e.check(len(after) >= 3 and all(d["action"] == "scale_up" and
                                          d["currentReplicas"] == 3 for d in after),
                  "after the rotation every round works: the file is re-read after the 401 "
                  "(not a minute later)", str(after[:3]) + proc.stderr()[-800:])
        e2e.check("unauthorized" not in proc.stderr().lower(), "no 401 reaches the log",
                  proc.stderr()[-800:])
    finally:
        proc.stop()

    # --- client certificate --------------------------------------------------------------
    user = e2e.uid("cert-user")
    crt, key, _ = k.client_cert(user)
    k.grant(ns, "User", user, name="cert")
    shutil.copy(crt, os.path.join(tmp, "pki-me.crt"))
    os.makedirs(os.path.join(tmp, "certs", "pki"))
    shutil.copy(crt, os.path.join(tmp, "certs", "pki", "me.crt"))
    shutil.copy(key, os.path.join(tmp, "certs", "pki", "me.key"))
    shutil.copy(k.KUBE_CA, os.path.join(tmp, "certs", "pki", "ca.crt"))
    kc = k.kubeconfig(os.path.join(tmp, "certs", "kubeconfig"),
                      "{client-certificate: pki/me.crt, client-key: pki/me.key}", ca=False,
                      cluster_extra="certificate-authority: pki/ca.crt")
    dry_once("client certificate files (relative paths, relative CA)", "--kubeconfig", kc)
    with open(crt, "rb") as f:
        crt_b64 = base64.b64encode(f.read()).decode()
    with open(key, "rb") as f:
        key_b64 = base64.b64encode(f.read()).decode()
    with open(k.KUBE_CA, "rb") as f:
        ca_b64 = base64.b64encode(f.read()).decode()
    kc = k.kubeconfig(os.path.join(tmp, "certdata.yaml"),
                      "{client-certificate-data: %s, client-key-data: %s}" % (crt_b64, key_b64),
                      ca=False, cluster_extra="certificate-authority-data: %s" % ca_b64)
    p = dry_once("client certificate and CA as -data", "--kubeconfig", kc)
    e2e.check(key_b64[:40] not in p.stderr + p.stdout, "the key never appears in the output")

    # --- exec plugin (v1) with expiry --------------------------------------------------------
    write("exec/token", token)
    plugin = write("exec/plugin", """#!/usr/bin/env python3
import datetime, json, os, sys
with open(os.environ["COUNT_FILE"], "a") as f:
    f.write("x\\n")
with open(os.environ["INFO_FILE"], "w") as f:
    json.dump({"info": json.loads(os.environ["KUBERNETES_EXEC_INFO"]), "args": sys.argv[1:]}, f)
exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3)
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": open(os.environ["TOKEN_FILE"]).read().strip(),
                             "expirationTimestamp": exp.strftime("%Y-%m-%dT%H:%M:%SZ")}}))
""", 0o700)
    count_file = os.path.join(tmp, "exec", "count")
    info_file = os.path.join(tmp, "exec", "info")
    kc = k.kubeconfig(os.path.join(tmp, "exec", "kubeconfig"), """
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./plugin
      args: ["--cluster", "e2e"]
      env:
      - {name: COUNT_FILE, value: %s}
      - {name: INFO_FILE, value: %s}
      - {name: TOKEN_FILE, value: %s}
      interactiveMode: Never
      provideClusterInfo: true""" % (count_file, info_file, os.path.join(tmp, "exec", "token")))
    proc = e2e.Proc([e2e.LAGSCALE, "run", "--config", cfg, "--dry-run", "--output", "json",
                     "--kubeconfig", kc], env=base_env)
    t0 = time.time()
    try:
        # Rounds over at least 6 s by their own clock (two expiries), however
        # late a busy machine makes them; the bound on calls then follows
        # from the time the process ran, not from a fixed sleep.
        def span(out):
            ts = sorted({d["time"] for d in k.decisions(out)})
            if len(ts) < 2:
                return 0
            f = "%Y-%m-%dT%H:%M:%SZ"
            return (datetime.datetime.strptime(ts[-1], f) -
                    datetime.datetime.strptime(ts[0], f)).total_seconds()

        proc.wait_for(lambda out: span(out) >= 6, 90)
        ds = k.decisions(proc.stdout())
    finally:
        proc.stop()
    ran = time.time() - t0
    calls = len(open(count_file).read().split()) if os.path.exists(count_file) else 0
    e2e.check(ds and all(d["currentReplicas"] == 3 for d in ds),
              "exec plugin (v1): every round authenticated (%d rounds)" % len(ds),
              proc.stderr()[-800:])
    e2e.check(span(proc.stdout()) >= 6 and 2 <= calls <= int(ran / 3) + 3,
              "the credential is cached until its expiry and fetched again after it "
              "(%d calls in %.1f s, 3 s expiry, ~%d requests)" % (calls, ran, 3 * len(ds)))
    info = json.load(open(info_file)) if os.path.exists(info_file) else {}
    ei = info.get("info", {})
    e2e.check(ei.get("kind") == "ExecCredential" and
              ei.get("apiVersion") == "client.authentication.k8s.io/v1" and
              ei.get("spec", {}).get("interactive") is False and
              ei.get("spec", {}).get("cluster", {}).get("server") == k.APISERVER and
              ei.get("spec", {}).get("cluster", {}).get("certificate-authority-data") == ca_b64,
              "KUBERNETES_EXEC_INFO is set as client-go sets it (with provideClusterInfo)",
              str(ei))
    e2e.check(info.get("args") == ["--cluster", "e2e"], "the plugin gets its args",
              str(info.get("args")))

    # --- exec plugin: a credential refused with 401 is fetched again at once ------------------
    write("exec401/plugin", """#!/usr/bin/env python3
import json, os
n = os.path.join(os.path.dirname(os.path.abspath(__file__)), "count")
calls = len(open(n).read().split()) if os.path.exists(n) else 0
open(n, "a").write("x\\n")
tok = "not-a-valid-token" if calls == 0 else open(os.environ["TOKEN_FILE"]).read().strip()
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1",
                  "kind": "ExecCredential", "status": {"token": tok}}))
""", 0o700)
    kc = k.kubeconfig(os.path.join(tmp, "exec401", "kubeconfig"), """
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: ./plugin
      env: [{name: TOKEN_FILE, value: %s}]""" % os.path.join(tmp, "exec", "token"))
    dry_once("exec plugin (v1beta1): a credential refused with 401 is fetched again",
             "--kubeconfig", kc)
    e2e.check(len(open(os.path.join(tmp, "exec401", "count")).read().split()) == 2,
              "... exactly once more")

    # --- exec plugin giving a client certificate -------------------------------------------------
    write("execcert/plugin", """#!/usr/bin/env python3
import json
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1",
                  "kind": "ExecCredential",
                  "status": {"clientCertificateData": open(%r).read(),
                             "clientKeyData": open(%r).read()}}))
""" % (crt, key), 0o700)
    kc = k.kubeconfig(os.path.join(tmp, "execcert", "kubeconfig"), """
    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: ./plugin}""")
    dry_once("exec plugin giving a client certificate and key", "--kubeconfig", kc)

    # --- in-cluster ----------------------------------------------------------------------------------
    sa = os.path.join(tmp, "serviceaccount")
    os.makedirs(sa)
    write("serviceaccount/token", token)
    write("serviceaccount/namespace", ns)
    shutil.copy(k.KUBE_CA, os.path.join(sa, "ca.crt"))
    u = urlparse(k.APISERVER)
    env = dict(base_env, KUBERNETES_SERVICE_HOST=u.hostname,
               KUBERNETES_SERVICE_PORT=str(u.port), LAGSCALE_SERVICEACCOUNT_DIR=sa)
    p = dry_once("in-cluster: service-account token, ca.crt, host and port from the environment",
                 env=env)
    e2e.check("Kubernetes: in-cluster, server https://%s:%d" % (u.hostname, u.port) in p.stderr,
              "the start-up log says in-cluster", p.stderr[-500:])

    # --- ~/.kube/config, no flag ------------------------------------------------------------------------
    home = os.path.join(tmp, "home")
    os.makedirs(os.path.join(home, ".kube"))
    k.kubeconfig(os.path.join(home, ".kube", "config"), "{token: %s}" % token)
    p = dry_once("~/.kube/config with no flag at all", env=dict(base_env, HOME=home))
    e2e.check('kubeconfig "%s/.kube/config"' % home in p.stderr, "... named in the log")

    # --- KUBECONFIG: merged, first wins, relative paths per file ---------------------------------
    os.makedirs(os.path.join(tmp, "m1"))
    os.makedirs(os.path.join(tmp, "m2"))
    shutil.copy(k.KUBE_CA, os.path.join(tmp, "m2", "ca.crt"))
    write("m2/token", token)
    write("m1/config", "current-context: merged\n"
                       "contexts: [{name: merged, context: {cluster: c, user: u}}]\n"
                       "users: [{name: u, user: {tokenFile: token}}]\n")  # m1/token: missing
    write("m2/config", "current-context: other\n"
                       "clusters: [{name: c, cluster: {server: '%s', "
                       "certificate-authority: ca.crt}}]\n"
                       "users: [{name: u, user: {token: wrong}}]\n" % k.APISERVER)
    write("m1/token", token)
    env = dict(base_env, KUBECONFIG="%s/missing:%s/m1/config::%s/m2/config" % (tmp, tmp, tmp))
    dry_once("KUBECONFIG merging several files (first wins, relative paths per file)", env=env)

    # --- --context over kubernetes.context ----------------------------------------------------------
    kc = k.kubeconfig(os.path.join(tmp, "ctx.yaml"), "{token: %s}" % token)
    cfg_ctx = k.config(scaler, kubeconfig_path=kc)
    with open(cfg_ctx) as f:
        text = f.read().replace("kubernetes: {kubeconfig:", "kubernetes: {context: nope, "
                                                               "kubeconfig:")
    with open(cfg_ctx, "w") as f:
        f.write(text)
    p = e2e.lagscale("run", "--config", cfg_ctx, "--dry-run", "--once", env=base_env)
    e2e.check(p.returncode == 2 and 'context "nope" not found in "%s"' % kc in p.stderr,
              "a context that does not exist: exit 2, named", p.stderr[-500:])
    dry_once("--context wins over kubernetes.context", "--context", "e2e", config=cfg_ctx)

    # --- no configuration at all ------------------------------------------------------------
    empty = os.path.join(tmp, "empty-home")
    os.makedirs(empty)
    p = e2e.lagscale("run", "--config", cfg, "--once", env=dict(base_env, HOME=empty))
    e2e.check(p.returncode == 2 and "no Kubernetes configuration" in p.stderr and
              "or use --dry-run" in p.stderr,
              "no kubeconfig at all and not dry-run: a clear error, exit 2", p.stderr[-600:])
    p = e2e.lagscale("run", "--config", cfg, "--once", "--dry-run", "--output", "json",
                     env=dict(base_env, HOME=empty))
    ds = k.decisions(p.stdout, "web")
    e2e.check(p.returncode == 0 and ds and ds[0]["currentReplicas"] == 1 and
              "dry-run with assumed replicas" in p.stderr,
              "... with --dry-run: assumed replicas (minReplicas 1), as without a cluster",
              p.stderr[-600:])

    # --- TLS --------------------------------------------------------------------------------------------
    kc = k.kubeconfig(os.path.join(tmp, "wrongca.yaml"), "{token: %s}" % token, ca=False,
                      cluster_extra="certificate-authority: %s" %
                      os.environ["LAGSCALE_E2E_KAFKA_CA"])
    p = e2e.lagscale("run", "--config", cfg, "--dry-run", "--once", "--kubeconfig", kc,
                     env=base_env)
    e2e.check(p.returncode == 1 and "TLS: " in p.stderr and "certificate" in p.stderr,
              "a wrong CA: the server is not trusted (TLS error)", p.stderr[-600:])
    kc = k.kubeconfig(os.path.join(tmp, "insecure.yaml"), "{token: %s}" % token, ca=False,
                      cluster_extra="insecure-skip-tls-verify: true")
    p = dry_once("insecure-skip-tls-verify: no verification", "--kubeconfig", kc)
    e2e.check("TLS verification disabled" in p.stderr, "... and the log says so")
    kc = k.kubeconfig(os.path.join(tmp, "sni.yaml"), "{token: %s}" % token,
                      cluster_extra="tls-server-name: localhost")
    dry_once("tls-server-name: localhost (in the certificate) verifies", "--kubeconfig", kc)
    kc = k.kubeconfig(os.path.join(tmp, "badsni.yaml"), "{token: %s}" % token,
                      cluster_extra="tls-server-name: wrong.example")
    p = e2e.lagscale("run", "--config", cfg, "--dry-run", "--once", "--kubeconfig", kc,
                     env=base_env)
    e2e.check(p.returncode == 1 and "TLS: " in p.stderr and "wrong.example" in p.stderr,
              "tls-server-name not in the certificate: TLS error", p.stderr[-600:])
    print("skip - username/password: kube-apiserver has no basic auth since 1.19")
    k.cleanup_dir(tmp)
e2e.done()
