"""Lag over every secured listener of the broker is the lag over PLAINTEXT:
SASL/PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 over SASL_PLAINTEXT and SASL_SSL
(the broker certificate verified with ssl.ca.location), mTLS (a client
certificate on the SSL listener that requires one), and OAUTHBEARER with
sasl.oauthbearer.method=oidc (tokens from the environment's OIDC server,
checked by Kafka's JWKS validator) over SASL_PLAINTEXT and SASL_SSL. Once
with `lagscale lag -X ...`, once with `lagscale run --dry-run --once`
through a config whose secrets come from ${env:...}. No secret is ever
printed."""
import json
import os

from e2e import (KAFKA, check, commit, create_topic, done, json_lines, lagscale, mtls_props,
                 oidc_stats, produce, sasl_bootstrap, sasl_props, secrets, uid, write_config,
                 xflags)

version = os.environ.get("LAGSCALE_E2E_KAFKA_VERSION", "?")
print("# Kafka %s" % version)
topic, group = uid("auth"), uid("g-auth")
create_topic(topic, 3)
for p in range(3):
    produce(topic, 10 + p, p)
commit(group, (topic, 0, 5), (topic, 1, 5), (topic, 2, 5))
want_total = 5 + 6 + 7

cases = []  # (name, bootstrap, properties)
for proto in ("SASL_PLAINTEXT", "SASL_SSL"):
    for mech in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"):
        cases.append(("%s/%s" % (proto, mech), sasl_bootstrap(proto), sasl_props(proto, mech)))
cases.append(("SSL/mTLS", sasl_bootstrap("SSL"), mtls_props()))
secret_values = secrets()


def leaked(text):
    return [s for s in secret_values if s in text]


plain = lagscale("lag", "--bootstrap-servers", KAFKA, "--group", group, "--topic", topic,
                 "--output", "json")
check(plain.returncode == 0, "lag over PLAINTEXT", plain.stderr)
want = json.loads(plain.stdout) if plain.returncode == 0 else None
check(want is not None and want["totalLag"] == want_total, "the lag itself over PLAINTEXT",
      plain.stdout)

tokens_before = oidc_stats()["issued"]
for name, bootstrap, props in cases:
    r = lagscale("lag", "--bootstrap-servers", bootstrap, "--group", group, "--topic", topic,
                 "--output", "json", "--timeout", "30s", *xflags(props), timeout=90)
    ok = check(r.returncode == 0, "%s: lag exits 0" % name, "exit %d: %s" % (r.returncode, r.stderr))
    if ok:
        try:
            got = json.loads(r.stdout)
        except ValueError:
            got = None
        check(got == want, "%s: the same lag as over PLAINTEXT" % name, r.stdout)
    check(not leaked(r.stdout + r.stderr), "%s: no secret in the output" % name)
check(oidc_stats()["issued"] >= tokens_before + 2,
      "the OIDC server issued the OAUTHBEARER tokens", str(oidc_stats()))

# Through a config: one cluster per case, the secrets from ${env:...}.
env = dict(os.environ)
secret_keys = ("sasl.password", "sasl.oauthbearer.client.secret")
clusters, scalers = [], []
for i, (name, bootstrap, props) in enumerate(cases):
    lines = []
    for k, v in props.items():
        if k in secret_keys:
            env["E2E_AUTH_SECRET_%d" % i] = v
            v = "${env:E2E_AUTH_SECRET_%d}" % i
        lines.append("        %s: %s" % (k, json.dumps(v) if "${" not in v else v))
    clusters.append("""    - name: c%d
      bootstrapServers: "%s"
      properties:
%s""" % (i, bootstrap, "\n".join(lines)))
    scalers.append("""  - name: s%d
    target: {apiVersion: apps/v1, kind: Deployment, namespace: default, name: consumer-%d}
    kafka: {cluster: c%d, group: %s, topics: [%s]}""" % (i, i, i, group, topic))
cfg_text = "kafka:\n  clusters:\n%s\nscalers:\n%s\n" % ("\n".join(clusters), "\n".join(scalers))
check(not leaked(cfg_text), "the config file itself holds no secret")
cfg = write_config(cfg_text)
r = lagscale("run", "--config", cfg, "--dry-run", "--once", "--output", "json", env=env,
             timeout=180)
check(r.returncode == 0, "run --dry-run --once over all %d listeners/mechanisms exits 0" % len(cases),
      "exit %d: %s" % (r.returncode, r.stderr[-2000:]))
decisions = {d.get("scaler"): d for d in json_lines(r.stdout)}
for i, (name, _, _) in enumerate(cases):
    d = decisions.get("s%d" % i)
    check(d is not None and d.get("totalLag") == want_total and d.get("action") != "error",
          "run through the config, %s: lag %d" % (name, want_total), str(d))
check(not leaked(r.stdout + r.stderr), "no secret in run's output")
os.unlink(cfg)
done()
