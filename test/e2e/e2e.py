"""Helpers shared by the end-to-end tests (python3, standard library only).

The environment's variables (LAGSCALE_E2E_*) come from `env up`, run by
run-test; LAGSCALE_BIN and LAGSCALE_KAFKA_TOOL from meson. Every test is a
plain script: it calls check() for each property and exits non-zero when
one failed, printing what it expected and what it got.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

LAGSCALE = os.environ.get("LAGSCALE_BIN", "lagscale")
KAFKA_TOOL = os.environ.get("LAGSCALE_KAFKA_TOOL", "kafka-tool")
KAFKA = os.environ.get("LAGSCALE_E2E_KAFKA", "")
E2E_DIR = os.path.dirname(os.path.abspath(__file__))

_failures = []


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def uid(prefix):
    """A name no other run used: tests share one broker and API server."""
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def check(cond, what, detail=""):
    if cond:
        print("ok   - %s" % what)
    else:
        print("FAIL - %s %s" % (what, detail))
        _failures.append(what)
    sys.stdout.flush()
    return cond


def done():
    if _failures:
        print("%d check(s) failed" % len(_failures))
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)


def run(args, timeout=60, check_rc=True, env=None, input=None):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env,
                       input=input)
    if check_rc and p.returncode != 0:
        raise RuntimeError("%s exited %d:\n%s\n%s" % (" ".join(args), p.returncode,
                                                      p.stdout, p.stderr))
    return p


def lagscale(*args, timeout=60, check_rc=False, env=None):
    return run([LAGSCALE] + list(args), timeout=timeout, check_rc=check_rc, env=env)


def json_lines(text):
    return [json.loads(l) for l in text.splitlines() if l.strip().startswith("{")]


def kafka_tool(*args, timeout=120):
    return run([KAFKA_TOOL] + list(args), timeout=timeout)


def kafka_java(main_class, *args, timeout=120):
    """Runs one of Kafka's own tools (e.g. ConsumerGroupCommand)."""
    cp = os.environ["LAGSCALE_E2E_KAFKA_CLASSPATH"]
    return run(["java", "-cp", cp, main_class] + list(args), timeout=timeout,
               check_rc=False)


def create_topic(name, partitions, bootstrap=None):
    p = kafka_java("org.apache.kafka.tools.TopicCommand", "--bootstrap-server",
                   bootstrap or KAFKA, "--create", "--topic", name, "--partitions",
                   str(partitions), "--replication-factor", "1")
    if p.returncode != 0:
        raise RuntimeError("create topic %s: %s" % (name, p.stderr))


def add_partitions(name, partitions):
    p = kafka_java("org.apache.kafka.tools.TopicCommand", "--bootstrap-server", KAFKA,
                   "--alter", "--topic", name, "--partitions", str(partitions))
    if p.returncode != 0:
        raise RuntimeError("alter topic %s: %s" % (name, p.stderr))


def produce(topic, count, partition=None, *extra):
    args = ["produce", "-b", KAFKA, "-t", topic, "-n", str(count)]
    if partition is not None:
        args += ["-p", str(partition)]
    kafka_tool(*(args + list(extra)))


def commit(group, *offsets):
    """offsets: (topic, partition, offset) tuples."""
    kafka_tool("commit", "-b", KAFKA, "-g", group,
               *["%s:%d:%d" % o for o in offsets])


def describe_group(group):
    """Kafka's own view: {(topic, partition): (current or None, end, lag or None)}."""
    p = kafka_java("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                   "--bootstrap-server", KAFKA, "--describe", "--group", group)
    rows = {}
    for line in p.stdout.splitlines():
        f = line.split()
        if len(f) < 6 or f[0] != group or not f[2].isdigit():
            continue
        cur = None if f[3] == "-" else int(f[3])
        lag = None if f[5] == "-" else int(f[5])
        rows[(f[1], int(f[2]))] = (cur, int(f[4]), lag)
    return rows, p


def describe_members(group):
    """Kafka's own view of the owners: {(topic, partition): (consumer id, host,
    client id)}, each None for "-"; and {"state": ..., "assignor": ...,
    "members": N} from --state."""
    p = kafka_java("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                   "--bootstrap-server", KAFKA, "--describe", "--group", group)
    owners = {}
    for line in p.stdout.splitlines():
        f = line.split()
        if len(f) < 9 or f[0] != group or not f[2].isdigit():
            continue
        owners[(f[1], int(f[2]))] = tuple(None if v == "-" else v for v in f[6:9])
    s = kafka_java("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                   "--bootstrap-server", KAFKA, "--describe", "--group", group, "--state")
    # The columns are cut at the header's positions: "COORDINATOR (ID)" has
    # a space in it (3.9 prints it, 4.x too), so splitting on blanks shifts them.
    state = {}
    lines = [l for l in s.stdout.splitlines() if l.strip()]
    for head, row in zip(lines, lines[1:]):
        if not head.startswith("GROUP") or row.split()[0] != group:
            continue
        names = ["GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"]
        starts = sorted((head.index(n), n) for n in names if n in head)
        cols = {}
        for i, (start, name) in enumerate(starts):
            end = starts[i + 1][0] if i + 1 < len(starts) else None
            cols[name] = row[start:end].strip()
        state = {"state": cols.get("STATE"), "assignor": cols.get("ASSIGNMENT-STRATEGY"),
                 "members": int(cols.get("#MEMBERS") or "0")}
    return owners, state


def write_config(text):
    fd, path = tempfile.mkstemp(prefix="lagscale-e2e-", suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


class Proc:
    """A background process whose stdout lines are collected as they come."""

    def __init__(self, args, env=None):
        self.out_path = tempfile.mktemp(prefix="lagscale-e2e-out-")
        self.err_path = tempfile.mktemp(prefix="lagscale-e2e-err-")
        self.out = open(self.out_path, "w")
        self.err = open(self.err_path, "w")
        self.p = subprocess.Popen(args, stdout=self.out, stderr=self.err, env=env,
                                  start_new_session=True)

    def stdout(self):
        """The complete lines written so far (while the process runs, a line
        still being written, as a flush of a full stdio buffer leaves one, is
        left for the next read); everything once it has exited."""
        running = self.p.poll() is None
        with open(self.out_path) as f:
            text = f.read()
        if running and not text.endswith("\n"):
            text = text[:text.rfind("\n") + 1]
        return text

    def stderr(self):
        with open(self.err_path) as f:
            return f.read()

    def wait_for(self, pred, timeout):
        """Polls pred(stdout) until true or timeout; returns the last value."""
        end = time.time() + timeout
        while True:
            v = pred(self.stdout())
            if v or time.time() > end:
                return v
            time.sleep(0.2)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.out.close()
        self.err.close()
        return self.p.returncode


# --- the broker's secured listeners (test/e2e/README.md, "Kafka") -------------

def _env(name):
    return os.environ[name]


def sasl_props(protocol, mechanism, password=None, scope=None, **over):
    """librdkafka properties for one SASL listener and mechanism, with the
    environment's credentials (password/client secret overridable)."""
    props = {"security.protocol": protocol, "sasl.mechanism": mechanism}
    if protocol == "SASL_SSL":
        props["ssl.ca.location"] = _env("LAGSCALE_E2E_KAFKA_CA")
    if mechanism == "PLAIN":
        props["sasl.username"] = _env("LAGSCALE_E2E_PLAIN_USER")
        props["sasl.password"] = password or _env("LAGSCALE_E2E_PLAIN_PASSWORD")
    elif mechanism.startswith("SCRAM-"):
        props["sasl.username"] = _env("LAGSCALE_E2E_SCRAM_USER")
        props["sasl.password"] = password or _env("LAGSCALE_E2E_SCRAM_PASSWORD")
    elif mechanism == "OAUTHBEARER":
        props["sasl.oauthbearer.method"] = "oidc"
        props["sasl.oauthbearer.client.id"] = _env("LAGSCALE_E2E_OIDC_CLIENT_ID")
        props["sasl.oauthbearer.client.secret"] = password or _env("LAGSCALE_E2E_OIDC_CLIENT_SECRET")
        props["sasl.oauthbearer.token.endpoint.url"] = _env("LAGSCALE_E2E_OIDC_TOKEN_URL")
        props["sasl.oauthbearer.scope"] = scope or _env("LAGSCALE_E2E_OIDC_SCOPE")
    props.update(over)
    return props


def sasl_bootstrap(protocol):
    return _env("LAGSCALE_E2E_KAFKA_" + protocol)


def mtls_props(**over):
    props = {"security.protocol": "SSL",
             "ssl.ca.location": _env("LAGSCALE_E2E_KAFKA_CA"),
             "ssl.certificate.location": _env("LAGSCALE_E2E_KAFKA_CLIENT_CERT"),
             "ssl.key.location": _env("LAGSCALE_E2E_KAFKA_CLIENT_KEY")}
    props.update(over)
    return props


def secrets():
    """Every secret of the environment: none may ever be printed."""
    return [os.environ[n] for n in ("LAGSCALE_E2E_PLAIN_PASSWORD", "LAGSCALE_E2E_SCRAM_PASSWORD",
                                    "LAGSCALE_E2E_OIDC_CLIENT_SECRET")
            if os.environ.get(n)]


def xflags(props):
    """-X key=value flags for `lagscale lag`."""
    out = []
    for k, v in props.items():
        out += ["-X", "%s=%s" % (k, v)]
    return out


def oidc_stats():
    import urllib.request
    with urllib.request.urlopen(_env("LAGSCALE_E2E_OIDC_STATS_URL"), timeout=10) as r:
        return json.loads(r.read().decode())
