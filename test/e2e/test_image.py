"""The container image: deploy/container/build makes it offline (an
mmdebstrap Debian 13 (trixie) base, buildah), and the OCI archive it writes
holds a distroless-style root file system: /lagscale, the shared libraries
it needs, CA certificates, a non-root user 65532 and nothing else (no shell).

The layers are unpacked into a directory and the binary runs there with
`chroot --userspec=65532:65532`: `lagscale version`, which must report the
librdkafka actually loaded in the image as 2.8.x, from a file of the image:
the patched build of scripts/librdkafka (trixie's 2.8.0 source package with
scripts/librdkafka.d, at its current patch level) under
/opt/lagscale/librdkafka-2.8.0-lsN/lib, built against its rdkafka.h with
the fix of #4605 and the coordinator cache, and no other librdkafka in the image (trixie's own
librdkafka1 would be /lib/x86_64-linux-gnu/librdkafka.so.1); then `lagscale run --dry-run --once` against the real e2e broker, then
`lagscale run --dry-run` serving /metrics from inside the image. Prints the
image size (must stay under 40 MB unpacked) and the build time.

LAGSCALE_IMAGE_ARCHIVE=PATH uses an archive built before instead of
building (the build itself is cached in ~/.cache/lagscale-image)."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

from e2e import KAFKA, check, commit, create_topic, done, json_lines, produce, uid

ROOT = os.environ.get("LAGSCALE_SOURCE_ROOT",
                      os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MB = 1000 * 1000

archive = os.environ.get("LAGSCALE_IMAGE_ARCHIVE", "")
if not archive:
    t0 = time.time()
    p = subprocess.run([os.path.join(ROOT, "deploy", "container", "build")],
                       capture_output=True, text=True, timeout=1700)
    took = time.time() - t0
    print(p.stderr[-3000:])
    if not check(p.returncode == 0, "deploy/container/build succeeds", p.stderr[-2000:]):
        done()
    archive = p.stdout.strip().splitlines()[-1]
    print("# image build: %.0f s" % took)
check(os.path.isfile(archive), "the OCI archive exists", archive)

work = tempfile.mkdtemp(prefix="lagscale-image-")
root = os.path.join(work, "rootfs")
os.makedirs(root)
try:
    oci = os.path.join(work, "oci")
    os.makedirs(oci)
    subprocess.run(["tar", "-xf", archive, "-C", oci], check=True)

    def blob(digest):
        return os.path.join(oci, "blobs", *digest.split(":", 1))

    index = json.load(open(os.path.join(oci, "index.json")))
    manifest = json.load(open(blob(index["manifests"][0]["digest"])))
    config = json.load(open(blob(manifest["config"]["digest"])))
    cfg = config.get("config", {})
    check(cfg.get("User") in ("65532:65532", "65532"), "image user is 65532", str(cfg.get("User")))
    check(cfg.get("Entrypoint") == ["/lagscale"], "entrypoint /lagscale", str(cfg.get("Entrypoint")))
    check(config.get("os") == "linux" and config.get("architecture"), "os/architecture set")

    compressed = sum(l["size"] for l in manifest["layers"])
    for layer in manifest["layers"]:
        # Layers are applied in order; whiteouts (.wh.NAME) delete NAME.
        listing = subprocess.run(["tar", "-tzf", blob(layer["digest"])], capture_output=True,
                                 text=True, check=True).stdout.split()
        for name in listing:
            base = os.path.basename(name)
            if base.startswith(".wh."):
                target = os.path.join(root, os.path.dirname(name), base[4:])
                if os.path.isdir(target) and not os.path.islink(target):
                    shutil.rmtree(target)
                elif os.path.lexists(target):
                    os.unlink(target)
        subprocess.run(["tar", "-xzf", blob(layer["digest"]), "-C", root,
                        "--exclude=.wh.*", "--numeric-owner"], check=True)
    unpacked = 0
    files = []
    for d, _, fs in os.walk(root):
        for f in fs:
            path = os.path.join(d, f)
            files.append(os.path.relpath(path, root))
            if not os.path.islink(path):
                unpacked += os.path.getsize(path)
    print("# image: %d layer(s), %.1f MB compressed, %.1f MB unpacked, %d files" %
          (len(manifest["layers"]), compressed / MB, unpacked / MB, len(files)))
    for f in sorted(files):
        print("#   /%s  %d" % (f, os.path.getsize(os.path.join(root, f))))
    check(unpacked < 40 * MB, "image under 40 MB unpacked", "%.1f MB" % (unpacked / MB))
    check(os.access(os.path.join(root, "lagscale"), os.X_OK), "/lagscale is there")
    check(not os.path.lexists(os.path.join(root, "bin", "sh")) and
          not os.path.lexists(os.path.join(root, "usr", "bin")), "no shell, no /usr/bin")
    check(os.path.getsize(os.path.join(root, "etc/ssl/certs/ca-certificates.crt")) > 1000,
          "CA certificates")
    # OpenSSL's default CA file (what librdkafka uses without ssl.ca.location)
    # resolves, inside the image, to the bundle.
    check(os.readlink(os.path.join(root, "usr/lib/ssl/cert.pem")) ==
          "/etc/ssl/certs/ca-certificates.crt",
          "OpenSSL's default CA file is the bundle")
    passwd = open(os.path.join(root, "etc", "passwd")).read()
    check(":65532:65532:" in passwd, "/etc/passwd has user 65532", passwd)
    st = os.stat(os.path.join(root, "lagscale"))
    check(st.st_uid == 0 and not st.st_mode & 0o6000 and not st.st_mode & 0o002,
          "the binary is root-owned, not setuid, not world-writable")

    def inside(*args, timeout=60):
        return subprocess.run(["chroot", "--userspec=65532:65532", root, "/lagscale"] +
                              list(args), capture_output=True, text=True, timeout=timeout)

    p = inside("version")
    check(p.returncode == 0 and p.stdout.startswith("lagscale "),
          "lagscale version runs in the image as 65532", p.stdout + p.stderr)
    for line in p.stdout.strip().splitlines():
        print("# " + line)
    # `lagscale version` prints the version of the librdkafka it loaded
    # (rd_kafka_version(), from the library, not the header), e.g.
    # "librdkafka 2.8.0 (built against 2.8.0, loaded from /opt/...so.1)",
    # the lagscale patches in the rdkafka.h it was built against, then the
    # library's builtin.features.
    m = re.search(r"\blibrdkafka (\d+)\.(\d+)\.(\d+)\b", p.stdout)
    check(m is not None and (int(m.group(1)), int(m.group(2))) == (2, 8),
          "the image runs librdkafka 2.8.x", p.stdout)
    check(re.search(r"^librdkafka patches \(built against\): lagscale #4605, coordinator cache$",
                    p.stdout, re.M) is not None,
          "the image's lagscale is built against the #4605 fix and the coordinator cache",
          p.stdout)
    # The patched build, at the patch level of this tree: scripts/librdkafka
    # installs into LAGSCALE_CACHE/librdkafka-VERSION-lsN (the Containerfile's
    # LAGSCALE_CACHE is /opt/lagscale) and the binary's rpath names it.
    level = subprocess.run([os.path.join(ROOT, "scripts", "librdkafka"), "--print-version"],
                           capture_output=True, text=True, check=True).stdout.strip()
    want = "/opt/lagscale/librdkafka-%s/lib/librdkafka.so.1" % level
    m = re.search(r"loaded from (/\S+?)\)?$", p.stdout, re.M)
    check(m is not None and m.group(1) == want,
          "librdkafka is loaded from the patched build " + want, p.stdout)
    lib = os.path.join(root, want.lstrip("/"))
    check(os.path.isfile(lib) and not os.path.islink(lib),
          "and that is a file of the image", want)
    others = [f for f in files if os.path.basename(f).startswith("librdkafka") and
              "/" + f != want]
    check(not others, "no other librdkafka in the image", str(others))
    m = re.search(r"features:\s*([\w.,-]+)", p.stdout)
    if m:
        features = m.group(1).split(",")
        check("ssl" in features and "sasl_scram" in features,
              "the image's librdkafka has ssl and sasl_scram", m.group(1))

    # A real round against the e2e broker, with the config inside the image.
    topic, group = uid("image"), uid("g-image")
    create_topic(topic, 2)
    produce(topic, 30, 0)
    produce(topic, 12, 1)
    commit(group, (topic, 0, 10), (topic, 1, 0))

    def write_cfg(port):
        os.makedirs(os.path.join(root, "etc", "lagscale"), exist_ok=True)
        with open(os.path.join(root, "etc", "lagscale", "config.yaml"), "w") as f:
            f.write("""kafka:
  clusters:
    - name: main
      bootstrapServers: "%s"
server: {address: "127.0.0.1:%d"}
scalers:
  - name: image
    target: {apiVersion: apps/v1, kind: Deployment, namespace: shop, name: image-consumer}
    kafka: {cluster: main, group: %s, topics: [%s]}
    policy: {lagThreshold: 10, pollingInterval: 1s, maxReplicas: 8}
""" % (KAFKA, port, group, topic))

    write_cfg(8080)
    p = inside("run", "--config", "/etc/lagscale/config.yaml", "--dry-run", "--once",
               "--output", "json")
    decisions = json_lines(p.stdout)
    check(p.returncode == 0 and decisions and decisions[0]["totalLag"] == 32,
          "run --dry-run --once in the image reads the broker's lag (32)",
          p.stdout + p.stderr)
    if decisions:
        check(decisions[0]["desiredReplicas"] == 2 and decisions[0]["applied"] is False,
              "and decides 2 replicas (capped at 2 partitions), not applied", str(decisions[0]))

    # The long-running form serves /metrics from inside the image.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    write_cfg(port)
    proc = subprocess.Popen(["chroot", "--userspec=65532:65532", root, "/lagscale", "run",
                             "--config", "/etc/lagscale/config.yaml", "--dry-run"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    body = ""
    try:
        end = time.time() + 15
        while time.time() < end and "lagscale_lag_messages{" not in body:
            time.sleep(0.3)
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                            timeout=3) as r:
                    body = r.read().decode()
            except OSError:
                pass
        check('lagscale_lag_messages{scaler="image"' in body and
              'lagscale_replicas_desired{scaler="image"' in body,
              "the image serves /metrics with the lag", body[:500])
        with open("/proc/%d/status" % proc.pid) as f:
            uids = [l for l in f if l.startswith("Uid:")][0].split()[1:]
        check(set(uids) == {"65532"}, "the process runs as uid 65532", str(uids))
    finally:
        t0 = time.time()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        check(rc == 0 and time.time() - t0 < 2, "SIGTERM ends it within 2 s",
              "rc %s; %s" % (rc, proc.stderr.read()[-500:]))
finally:
    shutil.rmtree(work, ignore_errors=True)

done()
