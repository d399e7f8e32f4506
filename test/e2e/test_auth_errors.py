"""Refused logins and failed TLS are clear, quick errors. For each case
`lagscale lag --timeout 30s` exits 1 with ONE line on stderr that names the
bootstrap address and the cause, and it ends as soon as the broker refuses,
well before the read timeout (under 12 s, with room for a busy machine). A wrong secret is never printed.
A missing OIDC setting is a configuration error that needs no broker at
all: check-config exits 2, and run skips that cluster's scalers."""
import os
import time

from e2e import (KAFKA, check, commit, create_topic, done, lagscale, mtls_props, produce,
                 sasl_bootstrap, sasl_props, secrets, uid, write_config, xflags)

QUICK = 12.0  # seconds; the read timeout is 30 s
version = os.environ.get("LAGSCALE_E2E_KAFKA_VERSION", "?")
print("# Kafka %s" % version)
topic, group = uid("autherr"), uid("g-autherr")
create_topic(topic, 1)
produce(topic, 5, 0)
commit(group, (topic, 0, 1))
wrong = "wrong-" + uid("pw")
secret_values = secrets() + [wrong]


def lag(bootstrap, props):
    t0 = time.monotonic()
    r = lagscale("lag", "--bootstrap-servers", bootstrap, "--group", group, "--topic", topic,
                 "--timeout", "30s", *xflags(props), timeout=120)
    return r, time.monotonic() - t0


def expect_error(name, bootstrap, props, causes, rc=1, quick=QUICK):
    """causes: words of which at least one must be in the message (any case)."""
    r, took = lag(bootstrap, props)
    msg = r.stderr.strip()
    check(r.returncode == rc, "%s: exit %d" % (name, rc), "exit %d: %s" % (r.returncode, msg))
    check(msg != "" and "\n" not in msg, "%s: one line on stderr" % name, repr(r.stderr[-1500:]))
    if rc == 1:
        check(bootstrap in msg, "%s: the message names the bootstrap %s" % (name, bootstrap), msg)
    check(any(c.lower() in msg.lower() for c in causes),
          "%s: the message names the cause (%s)" % (name, " or ".join(causes)), msg)
    check(took < quick, "%s: ends in under %.0f s, before the 30 s timeout" % (name, quick),
          "took %.1f s" % took)
    check(not [s for s in secret_values if s in r.stdout + r.stderr],
          "%s: no secret printed" % name)
    print("       (%s: %.1f s: %s)" % (name, took, msg[:300]))


sp, ss = sasl_bootstrap("SASL_PLAINTEXT"), sasl_bootstrap("SASL_SSL")

expect_error("wrong SCRAM-SHA-512 password over SASL_SSL", ss,
             sasl_props("SASL_SSL", "SCRAM-SHA-512", password=wrong), ["authenticat"])
expect_error("wrong SCRAM-SHA-256 password over SASL_PLAINTEXT", sp,
             sasl_props("SASL_PLAINTEXT", "SCRAM-SHA-256", password=wrong), ["authenticat"])
expect_error("wrong PLAIN password over SASL_PLAINTEXT", sp,
             sasl_props("SASL_PLAINTEXT", "PLAIN", password=wrong), ["authenticat"])
expect_error("wrong OIDC client secret", sp,
             sasl_props("SASL_PLAINTEXT", "OAUTHBEARER", password=wrong),
             ["token", "OAUTHBEARER", "invalid_client"])
# GSSAPI is a mechanism librdkafka has and the broker does not enable; the
# kinit command is made a no-op so that the broker is asked at all.
expect_error("a mechanism the broker does not enable (GSSAPI)", sp,
             {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "GSSAPI",
              "sasl.kerberos.kinit.cmd": "true", "sasl.kerberos.min.time.before.relogin": "0"},
             ["mechanism"])
no_ca = sasl_props("SASL_SSL", "SCRAM-SHA-512")
del no_ca["ssl.ca.location"]
expect_error("TLS: the broker certificate is not trusted (no CA)", ss, no_ca,
             ["certificate", "verif"])
expect_error("TLS: the broker certificate is not trusted (another CA)", ss,
             sasl_props("SASL_SSL", "SCRAM-SHA-512",
                        **{"ssl.ca.location": os.environ["LAGSCALE_E2E_KAFKA_OTHER_CA"]}),
             ["certificate", "verif"])
expect_error("TLS to a broker listener that speaks no TLS (PLAINTEXT)", KAFKA,
             {"security.protocol": "SSL", "ssl.ca.location": os.environ["LAGSCALE_E2E_KAFKA_CA"]},
             ["TLS", "SSL"])
no_cert = mtls_props()
del no_cert["ssl.certificate.location"], no_cert["ssl.key.location"]
expect_error("mTLS listener without a client certificate", sasl_bootstrap("SSL"), no_cert,
             ["certificate"])

# Through a config: the message names the cluster too.
os.environ["E2E_WRONG_PASSWORD"] = wrong
props = sasl_props("SASL_SSL", "SCRAM-SHA-512")
cfg = write_config("""
kafka:
  clusters:
    - name: secure-e2e
      bootstrapServers: "%s"
      properties:
        security.protocol: SASL_SSL
        sasl.mechanism: SCRAM-SHA-512
        sasl.username: %s
        sasl.password: ${env:E2E_WRONG_PASSWORD}
        ssl.ca.location: %s
scalers:
  - name: secure
    target: {apiVersion: apps/v1, kind: Deployment, namespace: default, name: c}
    kafka: {cluster: secure-e2e, group: %s, topics: [%s]}
""" % (ss, props["sasl.username"], props["ssl.ca.location"], group, topic))
t0 = time.monotonic()
r = lagscale("run", "--config", cfg, "--dry-run", "--once", "--output", "json",
             env=dict(os.environ), timeout=120)
took = time.monotonic() - t0
check(r.returncode != 0, "run --once with a wrong password fails", "exit %d" % r.returncode)
check("secure-e2e" in r.stderr and "uthenticat" in r.stderr,
      "run --once: the message names the cluster and says authentication", r.stderr[-1500:])
check(not [s for s in secret_values if s in r.stdout + r.stderr], "run --once: no secret printed")
print("       (run --once: exit %d, %.1f s)" % (r.returncode, took))
os.unlink(cfg)

# A missing OIDC setting is a configuration error: exit 2, at once.
for missing in ("sasl.oauthbearer.token.endpoint.url", "sasl.oauthbearer.client.id"):
    props = sasl_props("SASL_PLAINTEXT", "OAUTHBEARER")
    del props[missing]
    expect_error("OIDC without %s" % missing, sp, props, [missing], rc=2, quick=3.0)
cfg = write_config("""
kafka:
  clusters:
    - name: oidc-e2e
      bootstrapServers: "%s"
      properties:
        security.protocol: SASL_PLAINTEXT
        sasl.mechanism: OAUTHBEARER
        sasl.oauthbearer.method: oidc
        sasl.oauthbearer.client.id: lagscale
        sasl.oauthbearer.client.secret: ${env:E2E_WRONG_PASSWORD}
scalers:
  - name: oidc
    target: {apiVersion: apps/v1, kind: Deployment, namespace: default, name: c}
    kafka: {cluster: oidc-e2e, group: %s, topics: [%s]}
""" % (sp, group, topic))
r = lagscale("check-config", cfg, env=dict(os.environ), timeout=60)
check(r.returncode == 2 and 'cluster "oidc-e2e"' in r.stderr and
      "sasl.oauthbearer.token.endpoint.url" in r.stderr,
      "config without sasl.oauthbearer.token.endpoint.url: check-config exits 2 naming the "
      "cluster and the setting", "exit %d: %s" % (r.returncode, r.stderr[-1000:]))
# run isolates the cluster: its scaler is skipped (an error decision, exit 1
# after --once), the other clusters' scalers would run.
t0 = time.monotonic()
r = lagscale("run", "--config", cfg, "--dry-run", "--once", "--output", "json",
             env=dict(os.environ), timeout=120)
took = time.monotonic() - t0
check(r.returncode == 1 and '"scaler":"oidc"' in r.stdout and '"action":"error"' in r.stdout,
      "config without sasl.oauthbearer.token.endpoint.url: run skips the cluster's scaler "
      "(an error decision, exit 1)", "exit %d: %s%s" % (r.returncode, r.stdout, r.stderr[-1000:]))
check("sasl.oauthbearer.token.endpoint.url" in r.stderr,
      "config without the token endpoint: the message names the setting", r.stderr[-1000:])
check(took < 3.0, "config without the token endpoint: at once", "took %.1f s" % took)
os.unlink(cfg)
done()
