"""Helpers shared by the end-to-end tests (python3, standard library only).

The environment's variables (LAGSCALE_E2E_*) come from `env up`, run by
run-test; LAGSCALE_BIN and LAGSCALE_KAFKA_TOOL from meson. Every test is a
plain script: it calls check() for each property and exits non-zero when
one failed, printing what it expected and what it got.
"""
import json
import os
import signal
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
        with open(self.out_path) as f:
            return f.read()

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
