"""The LagScaler CRD and the config parser know the same scaler keys.

Both ways, so neither can gain a key alone:
- config -> CRD: every key list of the parser's scaler walk (the static
  `*keys[]` arrays of the functions in lib/config/config.c and walk.c that
  walk a scaler) is the CRD's properties at the same place. A key list in a
  function this test does not know fails it too: say here whether it is a
  scaler's (then the CRD needs it) or not.
- CRD -> config: a scaler made of every key of the CRD's spec schema (each
  with its default, its first enum value or an example) is accepted by
  `lagscale check-config`, so the CRD has no key the config refuses, and
  the CRD's defaults are values the config accepts.
And deploy/crd-lagscalers.yaml is the chart's file, byte for byte.
The exceptions are the contract's: `name` is metadata.name, and
target.namespace is in the schema only to be refused.

Needs python3 with PyYAML (Debian: python3-yaml); skipped (77) without it.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    print("PyYAML is not installed: skipped")
    sys.exit(77)

ROOT = os.environ["LS_SOURCE_ROOT"]
LAGSCALE = os.environ["LAGSCALE_BIN"]
CRD = os.path.join(ROOT, "charts", "lagscale", "crds", "lagscale.io_lagscalers.yaml")

# The function of the parser whose key list it is -> the place in a scaler
# (None: not a scaler's keys). A list named in several functions is given
# as "function:array".
PLACES = {
    "walk_scaler:target_keys": "target",
    "walk_scaler_kafka:keys": "kafka",
    "ls_walk_policy:keys": "policy",
    "walk_behavior:keys": "policy.behavior",
    "walk_rules:keys": "policy.behavior.scaleUp",
    "walk_rate_policy:keys": "policy.behavior.scaleUp.policies[]",
    "walk_fallback:keys": "policy.fallback",
    "<file>:scaler_keys": "",
    # Not a scaler's:
    "walk_clusters:kafka_keys": None,
    "walk_clusters:cluster_keys": None,
    "walk_kubernetes:keys": None,
    "walk_leader:keys": None,
    "walk_server:server_keys": None,
    "walk_metrics:metrics_keys": None,
    "walk_log:log_keys": None,
    "<file>:top_keys": None,
}
# The parser's lists of names -> the enum of the CRD (None: not a scaler's).
ENUMS = {
    "<file>:mode_names": "policy.mode",
    "<file>:select_names": "policy.behavior.scaleUp.selectPolicy",
    "<file>:rate_type_names": "policy.behavior.scaleUp.policies[].type",
    "<file>:fallback_names": "policy.fallback.behavior",
    "<file>:isolation_names": "kafka.isolationLevel",
    "<file>:ls_walk_offset_reset_names": "kafka.offsetResetPolicy",
    "<file>:log_format_names": None,
    "<file>:log_level_names": None,
}
# Keys of the config a LagScaler has elsewhere: (place, key).
NOT_IN_SPEC = {("", "name"), ("target", "namespace")}

failures = []


def fail(msg):
    print("FAIL - " + msg)
    failures.append(msg)


def key_lists(path):
    """{"function:array": [keys]} of every `static const char *const X[] = {"..", NULL}`
    whose items are string literals, with the function it is in ("<file>" at
    file scope)."""
    text = open(path).read()
    out = {}
    for m in re.finditer(r"(?:static )?const char \*const (\w+)\[\]\s*=\s*\{([^}]*)\}", text):
        name, body = m.group(1), m.group(2)
        if "NULL" not in body:
            continue
        keys = re.findall(r'"([^"]*)"', body)
        # The innermost function definition before the array, if the array is
        # inside it (a `{` at column 0 opened and not yet closed).
        before = text[:m.start()]
        fn = "<file>"
        sigs = list(re.finditer(r"^(?:static\s+)?(?:const\s+)?(?:struct\s+|enum\s+)?\w+[\s*]+(\w+)\(",
                                before, re.M))
        # Inside a function: its body (a `{` at column 0) is still open.
        if sigs and before.rfind("\n{") > sigs[-1].start() and \
                before.rfind("\n}") < before.rfind("\n{"):
            fn = sigs[-1].group(1)
        out["%s:%s" % (fn, name)] = keys
    return out


def schema_at(spec, place):
    node = spec
    for part in place.split(".") if place else []:
        if part.endswith("[]"):
            node = node["properties"][part[:-2]]["items"]
        else:
            node = node["properties"][part]
    return node


# deploy/ uses the same file (the contract of the LagScaler resource).
with open(CRD, "rb") as a, open(os.path.join(ROOT, "deploy", "crd-lagscalers.yaml"), "rb") as b:
    if a.read() != b.read():
        fail("deploy/crd-lagscalers.yaml differs from %s: copy it" % CRD)

crd = yaml.safe_load(open(CRD))
version = crd["spec"]["versions"][0]
spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]

# config -> CRD
lists = {}
for src in ("config.c", "walk.c"):
    for k, v in key_lists(os.path.join(ROOT, "lib", "config", src)).items():
        lists[k] = v
checked = set()
for k, keys in sorted(lists.items()):
    if k in ENUMS:
        checked.add(k)
        if ENUMS[k] and schema_at(spec, ENUMS[k]).get("enum") != keys:
            fail("%s: the CRD's enum %s is not the config's %s" %
                 (ENUMS[k], schema_at(spec, ENUMS[k]).get("enum"), keys))
        continue
    if k not in PLACES:
        fail("the parser has a key list this test does not know: %s %s; is it a "
             "scaler's? (then add it to the CRD and to PLACES)" % (k, keys))
        continue
    place = PLACES[k]
    checked.add(k)
    if place is None:
        continue
    props = set(schema_at(spec, place).get("properties", {}))
    config_keys = {key for key in keys if (place, key) not in NOT_IN_SPEC}
    for key in sorted(config_keys - props):
        fail("%s%s: a scaler key of the config (%s) is not in the CRD's spec" %
             (place + "." if place else "", key, k))
    for key in sorted(props - set(keys)):
        fail("%s%s: in the CRD's spec but not a key of the config (%s)" %
             (place + "." if place else "", key, k))
    for place_, key in NOT_IN_SPEC:
        if place_ == place and key in props and key != "namespace":
            fail("%s.%s must not be in the CRD's spec" % (place, key))
for k in sorted((set(PLACES) | set(ENUMS)) - checked):
    fail("the parser has no key list %s any more: update PLACES" % k)
# scaleDown is walked by the same function as scaleUp: same keys.
up = schema_at(spec, "policy.behavior.scaleUp")
down = schema_at(spec, "policy.behavior.scaleDown")
if set(up["properties"]) != set(down["properties"]) or \
        set(up["properties"]["policies"]["items"]["properties"]) != \
        set(down["properties"]["policies"]["items"]["properties"]):
    fail("behavior.scaleUp and scaleDown differ in the CRD")


# CRD -> config: a scaler with every key of the CRD.
def example(s, path):
    if "properties" in s:
        out = {}
        for key, sub in s["properties"].items():
            if path == "target" and key == "namespace":
                continue
            if path == "kafka" and key == "topicPattern":
                continue  # one of topics and topicPattern; checked below
            out[key] = example(sub, path + "." + key if path else key)
        return out
    if s.get("type") == "array":
        if "default" in s:
            return s["default"]
        return [example(s["items"], path + "[]")]
    if "default" in s:
        return s["default"]
    if "enum" in s:
        return s["enum"][-1]
    if s.get("x-kubernetes-int-or-string"):
        return 60
    if s.get("type") == "integer":
        return s.get("minimum", 0)
    if s.get("type") == "boolean":
        return True
    if s.get("type") == "number":
        return 1.5
    if path.endswith("partitions"):
        return "0-3,5"
    return "x"


scaler = example(spec, "")
scaler["target"]["namespace"] = "shop"
scaler["policy"]["minReplicas"] = 2
scaler["policy"]["idleReplicas"] = 0
scaler["policy"]["fallback"]["replicas"] = 1
scaler["name"] = "every-key"
other = json.loads(json.dumps(scaler))
other["name"] = "pattern"
other["target"]["name"] = "y"
del other["kafka"]["topics"]
other["kafka"]["topicPattern"] = "^orders-"
cfg = {"kafka": {"clusters": [{"name": "x", "bootstrapServers": "127.0.0.1:9092"}]},
       "scalers": [scaler, other]}
fd, path = tempfile.mkstemp(prefix="lagscale-crd-keys-", suffix=".yaml")
with os.fdopen(fd, "w") as f:
    json.dump(cfg, f)
p = subprocess.run([LAGSCALE, "check-config", path], capture_output=True, text=True,
                   timeout=60)
os.unlink(path)
if p.returncode != 0:
    fail("check-config refuses a scaler made of every key of the CRD: %s\n%s" %
         (p.stdout + p.stderr, json.dumps(scaler)))

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("the CRD's spec and the config's scaler have the same keys (%d key lists checked)" %
      len(checked))
