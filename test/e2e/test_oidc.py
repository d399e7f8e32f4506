"""OAUTHBEARER/OIDC tokens are refreshed before they expire: `lagscale run
--dry-run` polls every 5 s for 3 minutes over SASL_SSL with OAUTHBEARER,
while the OIDC server issues 60-second tokens and the broker makes every
OAUTHBEARER session re-authenticate every 30 s (connections.max.reauth.ms),
so a connection still holding an expired token would be dropped. Every
decision has a lag (never an error), new messages show up in the lag, and
the server issued at least 3 tokens for this run, the last one within a
token lifetime of the end.

LAGSCALE_E2E_OIDC_TEST_SECONDS shortens or lengthens the run (180)."""
import os
import time

from e2e import (LAGSCALE, Proc, check, commit, create_topic, done, json_lines, oidc_stats,
                 produce, sasl_bootstrap, sasl_props, secrets, uid, write_config)

duration = float(os.environ.get("LAGSCALE_E2E_OIDC_TEST_SECONDS", "180"))
lifetime = int(os.environ["LAGSCALE_E2E_OIDC_TOKEN_LIFETIME"])
reauth_ms = int(os.environ.get("LAGSCALE_E2E_KAFKA_REAUTH_MS", "0"))
interval = 5.0
print("# Kafka %s, tokens of %d s, broker re-authentication every %d ms, run of %.0f s"
      % (os.environ.get("LAGSCALE_E2E_KAFKA_VERSION", "?"), lifetime, reauth_ms, duration))
check(lifetime <= 120, "the OIDC server issues short tokens", "%d s" % lifetime)
check(0 < reauth_ms < lifetime * 1000,
      "the broker re-authenticates OAUTHBEARER sessions within a token's lifetime",
      "connections.max.reauth.ms=%d" % reauth_ms)

topic, group = uid("oidc"), uid("g-oidc")
create_topic(topic, 2)
produce(topic, 30, 0)
produce(topic, 20, 1)
commit(group, (topic, 0, 10), (topic, 1, 10))
first_lag = 20 + 10
# A scope of its own: /stats counts this run's tokens apart from others'.
scope = "kafka " + uid("e2e-oidc")
props = sasl_props("SASL_SSL", "OAUTHBEARER", scope=scope)
env = dict(os.environ)
env["E2E_OIDC_SECRET"] = props.pop("sasl.oauthbearer.client.secret")
lines = "\n".join("        %s: \"%s\"" % kv for kv in props.items())
cfg = write_config("""
kafka:
  clusters:
    - name: oidc-e2e
      bootstrapServers: "%s"
      properties:
%s
        sasl.oauthbearer.client.secret: ${env:E2E_OIDC_SECRET}
server: {address: "127.0.0.1:0"}
scalers:
  - name: oidc
    target: {apiVersion: apps/v1, kind: Deployment, namespace: default, name: c}
    kafka: {cluster: oidc-e2e, group: %s, topics: [%s]}
    policy: {lagThreshold: 10, pollingInterval: 5s, maxReplicas: 10}
""" % (sasl_bootstrap("SASL_SSL"), lines, group, topic))

run = Proc([LAGSCALE, "run", "--config", cfg, "--dry-run", "--output", "json"], env=env)
start = time.time()
produced_more = False
try:
    first = run.wait_for(lambda o: json_lines(o), 60)
    check(bool(first) and first[0].get("totalLag") == first_lag,
          "the first decision has the lag", run.stdout()[-1000:] + run.stderr()[-1000:])
    # Run for the whole duration (the end is a deadline, not a sleep that
    # a slow machine could make too short); halfway, produce more so that
    # the later decisions must come from fresh reads.
    while time.time() - start < duration and run.p.poll() is None:
        if not produced_more and time.time() - start >= duration / 2:
            produce(topic, 7, 0)
            produced_more = True
        time.sleep(1)
    stats = oidc_stats()
    end = time.time()
finally:
    rc = run.stop()
decisions = json_lines(run.stdout())
errors = [d for d in decisions if d.get("action") == "error" or d.get("totalLag") is None]
check(rc == 0, "lagscale ran the whole %.0f s and exits 0 on SIGTERM" % duration,
      "exit %s: %s" % (rc, run.stderr()[-1500:]))
check(len(decisions) >= duration / interval * 0.6,
      "kept deciding every %.0f s (%d decisions)" % (interval, len(decisions)))
check(not errors, "no decision without a lag in %.0f s" % duration,
      "%d errors, e.g. %s; stderr: %s" % (len(errors), errors[:2], run.stderr()[-1500:]))
check(any(d.get("totalLag") == first_lag + 7 for d in decisions),
      "messages produced halfway show in the lag", str([d.get("totalLag") for d in decisions]))
issued = stats["byScope"].get(scope, 0)
check(issued >= 3, "the OIDC server issued at least 3 tokens (%d) for this run" % issued,
      str(stats["byScope"]))
last = stats["lastByScope"].get(scope, 0)
check(last >= end - lifetime,
      "a token was issued within the last %d s of the run (refreshed before expiry)" % lifetime,
      "last token %.0f s before the end" % (end - last))
check(not [s for s in secrets() if s in run.stdout() + run.stderr()], "no secret in the output")
os.unlink(cfg)
done()
