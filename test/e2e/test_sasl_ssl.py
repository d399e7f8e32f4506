"""Lag over SASL_SSL with SCRAM-SHA-512 and CA verification; a wrong
password is a clear error, exit 1, and no password is ever printed."""
import json
import os

from e2e import (KAFKA, check, commit, create_topic, done, lagscale, produce, uid,
                 write_config)

sasl = os.environ["LAGSCALE_E2E_KAFKA_SASL_SSL"]
ca = os.environ["LAGSCALE_E2E_KAFKA_CA"]
user = os.environ["LAGSCALE_E2E_SCRAM_USER"]
password = os.environ["LAGSCALE_E2E_SCRAM_PASSWORD"]
mech = os.environ.get("LAGSCALE_E2E_SCRAM_MECHANISM", "SCRAM-SHA-512")

topic, group = uid("secure"), uid("g-secure")
create_topic(topic, 3)
for p in range(3):
    produce(topic, 10 + p, p)
commit(group, (topic, 0, 5), (topic, 1, 5), (topic, 2, 5))


def flags(pw):
    return ["-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanism=" + mech,
            "-X", "sasl.username=" + user, "-X", "sasl.password=" + pw,
            "-X", "ssl.ca.location=" + ca]


plain = lagscale("lag", "--bootstrap-servers", KAFKA, "--group", group, "--topic", topic,
                 "--output", "json")
secure = lagscale("lag", "--bootstrap-servers", sasl, "--group", group, "--topic", topic,
                  "--output", "json", *flags(password))
check(secure.returncode == 0, "SASL_SSL lag exits 0", secure.stderr)
if secure.returncode == 0:
    check(json.loads(secure.stdout) == json.loads(plain.stdout),
          "same lag over SASL_SSL as over PLAINTEXT", secure.stdout)
    check(json.loads(secure.stdout)["totalLag"] == 5 + 6 + 7, "the lag itself")
check(password not in secure.stdout + secure.stderr, "no password in the output")

wrong = "wrong-" + uid("pw")
bad = lagscale("lag", "--bootstrap-servers", sasl, "--group", group, "--topic", topic,
               "--timeout", "8s", *flags(wrong), timeout=60)
check(bad.returncode == 1, "wrong password: exit 1", "exit %d" % bad.returncode)
check("uthentication" in bad.stderr, "wrong password: the message says authentication",
      bad.stderr)
check(wrong not in bad.stdout + bad.stderr, "wrong password never printed", bad.stderr)

# The CA is verified: without it the broker's certificate is refused.
noca = lagscale("lag", "--bootstrap-servers", sasl, "--group", group, "--topic", topic,
                "--timeout", "8s", *flags(password)[:-2], timeout=60)
check(noca.returncode == 1, "unknown CA: exit 1", noca.stderr)

# Through a config, the password from ${env:...}.
os.environ["E2E_KAFKA_PASSWORD"] = password
cfg = write_config("""
kafka:
  clusters:
    - name: secure
      bootstrapServers: "%s"
      properties:
        security.protocol: SASL_SSL
        sasl.mechanism: %s
        sasl.username: %s
        sasl.password: ${env:E2E_KAFKA_PASSWORD}
        ssl.ca.location: %s
scalers:
  - name: secure
    target: {apiVersion: apps/v1, kind: Deployment, name: c}
    kafka: {group: %s, topics: [%s]}
""" % (sasl, mech, user, ca, group, topic))
r = lagscale("run", "--config", cfg, "--dry-run", "--once", "--output", "json",
             env=dict(os.environ))
check(r.returncode == 0 and json.loads(r.stdout)["totalLag"] == 18,
      "run over SASL_SSL with ${env:} password", r.stdout + r.stderr)
check(password not in r.stdout + r.stderr, "no password in run's output")
done()
