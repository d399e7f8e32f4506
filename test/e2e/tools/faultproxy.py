#!/usr/bin/env python3
"""faultproxy: a fault-injecting proxy for the end-to-end tests (Python 3
standard library only; see test/e2e/README.md, "Fault proxy").

It listens on 127.0.0.1 and forwards to one upstream, in one of two ways:

- TCP (the default): bytes are relayed as they come, in both directions;
  usable for anything, e.g. a Kafka listener (clients must then be told the
  proxy's address, e.g. through the broker's advertised listener).
- HTTP over TLS (--tls-cert/--tls-key, and --upstream-ca): the proxy ends
  the client's TLS with that certificate (the e2e apiserver's own serving
  certificate, issued for 127.0.0.1 by the CA the kubeconfigs trust), reads
  each HTTP/1.1 request, and sends it to the upstream over a TLS connection
  of its own (one per request), relaying the response as it comes (watches
  stream). So it can count requests and answer some itself (429/500/503
  with Retry-After), or delay them, by method and path.

Faults (the "mode", for every connection):
  pass        forward
  latency     TCP: every chunk is delayed by latencyMs, in each direction;
              HTTP: each request waits latencyMs before it is sent upstream,
              and its response's data latencyMs before it is relayed
  bandwidth   at most bytesPerSecond in each direction (TCP), or for each
              response (HTTP)
  reset       connections open now are reset (RST), new ones reset at accept
  stall       new connections are accepted and never served; open ones stop
              forwarding (nothing is closed)
  stopped     the listening socket is closed (connection refused, as a server
              that is down) and open connections are reset

HTTP rules (HTTP mode only), checked in order for each request; the first
that matches applies (a rule with `count` applies that many times, then is
spent):
  {"method": "PATCH", "path": "REGEX", "status": 429, "retryAfter": "3",
   "latencyMs": 2000, "count": 5}  or  {..., "dropResponse": true,
   "thenMode": "stopped"}
  dropResponse: forwarded, but the answer is not relayed (the client's
  connection is reset); thenMode: the mode to switch to just before it is
  forwarded, for every other connection (e.g. "stopped": the server
  applied the request and went down before answering, and no watch saw
  it);
  status: answered by the proxy (a Kubernetes Status body), not forwarded;
  latencyMs alone: forwarded after that delay (a request whose client hangs
  up meanwhile, or whose connection the mode resets, is never forwarded).

Control (HTTP on --control, JSON in and out):
  GET  /state            mode, rules, connection counts
  POST /mode             {"mode": "...", "latencyMs": N, "bytesPerSecond": N}
  POST /rules            {"rules": [...]}  (replaces them; [] clears)
  GET  /requests         {"counts": {"METHOD /path": N}, "log": [[unix time,
                         method, path, status, injected], ...] (at the answer),
                         "inflight": {"METHOD /path": N}} (HTTP mode; the log
                         keeps the last 100,000 requests)
  POST /requests/reset   forgets counts and log

On start it prints one line on stdout, {"listen": PORT, "control": PORT},
and (with --ready-file) writes the same to that file.
"""
import argparse
import collections
import http.server
import json
import os
import re
import select
import socket
import ssl
import struct
import sys
import threading
import time

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
LOG_MAX = 100000
MODES = ("pass", "latency", "bandwidth", "reset", "stall", "stopped")


class State:
    def __init__(self):
        self.lock = threading.Condition()
        self.mode = "pass"
        self.latency_ms = 0
        self.bps = 0
        self.rules = []
        self.counts = collections.Counter()
        self.inflight = collections.Counter()  # received, not yet answered
        self.log = collections.deque(maxlen=LOG_MAX)
        self.socks = set()
        self.accepted = 0
        self.generation = 0  # bumped at each mode change: relays re-check

    def snapshot(self):
        with self.lock:
            return {"mode": self.mode, "latencyMs": self.latency_ms,
                    "bytesPerSecond": self.bps, "rules": self.rules,
                    "open": len(self.socks), "accepted": self.accepted}


def hard_close(s):
    """Closes s with an RST (SO_LINGER 0), waking whoever blocks on it."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


class Proxy:
    def __init__(self, args):
        self.args = args
        self.st = State()
        self.upstream = (args.upstream.rsplit(":", 1)[0], int(args.upstream.rsplit(":", 1)[1]))
        self.http = bool(args.tls_cert)
        if self.http:
            self.server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.server_ctx.load_cert_chain(args.tls_cert, args.tls_key)
            self.server_ctx.set_alpn_protocols(["http/1.1"])
            self.client_ctx = ssl.create_default_context(cafile=args.upstream_ca)
            self.client_ctx.set_alpn_protocols(["http/1.1"])
        self.listener = None
        self.port = args.port
        self.listen()

    # --- listening ------------------------------------------------------------
    def listen(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(128)
        self.port = s.getsockname()[1]
        self.listener = s
        threading.Thread(target=self.accept_loop, args=(s,), daemon=True).start()

    def accept_loop(self, ls):
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return  # closed: "stopped"
            with self.st.lock:
                self.st.accepted += 1
                mode = self.st.mode
            if mode == "reset":
                hard_close(c)
                continue
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.track(c)
            target = self.serve_http if self.http else self.serve_tcp
            threading.Thread(target=target, args=(c,), daemon=True).start()

    def track(self, s):
        with self.st.lock:
            self.st.socks.add(s)

    def untrack(self, s):
        with self.st.lock:
            self.st.socks.discard(s)
        try:
            s.close()
        except OSError:
            pass

    def set_mode(self, mode, latency_ms=0, bps=0, spare=None):
        if mode not in MODES:
            raise ValueError("mode must be one of " + ", ".join(MODES))
        with self.st.lock:
            old = self.st.mode
            self.st.mode, self.st.latency_ms, self.st.bps = mode, int(latency_ms), int(bps)
            self.st.generation += 1
            victims = [v for v in self.st.socks if v is not spare] \
                if mode in ("reset", "stopped") else []
            for v in victims:
                self.st.socks.discard(v)
            self.st.lock.notify_all()
        if mode == "stopped" and self.listener is not None:
            hard_close(self.listener)
            self.listener = None
        for s in victims:
            hard_close(s)
        if old == "stopped" and mode != "stopped":
            self.listen()

    def wait_not_stalled(self):
        """Blocks while the mode is stall; False when the connection must end."""
        with self.st.lock:
            while self.st.mode == "stall":
                self.st.lock.wait()
            return self.st.mode not in ("reset", "stopped")

    def hold(self, raw, seconds):
        """Waits seconds; False as soon as raw's connection was reset (by
        the reset or stopped mode) or its client hung up (gave up on the
        request): a held request is then never sent."""
        end = time.monotonic() + seconds
        while True:
            with self.st.lock:
                if raw not in self.st.socks:
                    return False
            left = end - time.monotonic()
            if left <= 0:
                return True
            # The client sends nothing while it waits for the answer (no
            # pipelining): anything to read now is its close.
            try:
                r, _, _ = select.select([raw], [], [], min(left, 0.1))
            except (OSError, ValueError):
                return False
            if r:
                return False

    # --- pacing ---------------------------------------------------------------
    def pace(self, nbytes, t_recv):
        """Latency and bandwidth for one chunk received at t_recv."""
        with self.st.lock:
            mode, lat, bps = self.st.mode, self.st.latency_ms, self.st.bps
        if mode == "latency" and lat > 0:
            d = t_recv + lat / 1000.0 - time.monotonic()
            if d > 0:
                time.sleep(d)
        if mode == "bandwidth" and bps > 0:
            time.sleep(nbytes / float(bps))

    # --- TCP ------------------------------------------------------------------
    def serve_tcp(self, c):
        if self.st.mode == "stall" and not self.wait_not_stalled():
            self.untrack(c)
            return
        try:
            u = socket.create_connection(self.upstream, timeout=10)
            u.settimeout(None)
            u.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            hard_close(c)
            self.untrack(c)
            return
        self.track(u)
        t = threading.Thread(target=self.pipe, args=(u, c), daemon=True)
        t.start()
        self.pipe(c, u)
        t.join()
        self.untrack(c)
        self.untrack(u)

    def pipe(self, src, dst):
        """Relays src to dst with the mode's delays, in order."""
        q = collections.deque()
        cv = threading.Condition()
        eof = []

        def writer():
            while True:
                with cv:
                    while not q and not eof:
                        cv.wait()
                    if not q:
                        break
                    t, data = q.popleft()
                if not self.wait_not_stalled():
                    break
                self.pace(len(data), t)
                try:
                    dst.sendall(data)
                except OSError:
                    break
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        w = threading.Thread(target=writer, daemon=True)
        w.start()
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            with cv:
                if not data:
                    eof.append(True)
                else:
                    q.append((time.monotonic(), data))
                cv.notify()
            if not data:
                break
        w.join()

    # --- HTTP -----------------------------------------------------------------
    def serve_http(self, raw):
        if self.st.mode == "stall" and not self.wait_not_stalled():
            self.untrack(raw)
            return
        try:
            raw.settimeout(30)
            c = self.server_ctx.wrap_socket(raw, server_side=True)
            c.settimeout(None)
        except (OSError, ssl.SSLError):
            self.untrack(raw)
            return
        # The TLS socket took over raw's descriptor: it is the one to reset.
        with self.st.lock:
            live = raw in self.st.socks
            self.st.socks.discard(raw)
            if live:
                self.st.socks.add(c)
        if not live:
            hard_close(c)
            return
        f = c.makefile("rb")
        try:
            while self.serve_one(c, c, f):
                pass
        except (OSError, ssl.SSLError, ValueError):
            pass
        self.untrack(c)

    @staticmethod
    def read_head(f):
        lines, size = [], 0
        while True:
            line = f.readline(MAX_HEAD)
            if not line:
                return None
            size += len(line)
            if size > MAX_HEAD:
                raise ValueError("head too large")
            if line in (b"\r\n", b"\n"):
                if not lines:
                    continue
                return lines
            lines.append(line)

    def match(self, method, path):
        with self.st.lock:
            for rule in self.st.rules:
                if rule.get("method") and rule["method"] != method:
                    continue
                if rule.get("path") and not re.search(rule["path"], path):
                    continue
                if rule.get("count") is not None:
                    if rule["count"] <= 0:
                        continue
                    rule["count"] -= 1
                return dict(rule)
        return None

    def record(self, method, path, status, injected):
        with self.st.lock:
            self.st.counts["%s %s" % (method, path)] += 1
            self.st.log.append([time.time(), method, path, status, injected])

    def serve_one(self, c, raw, f):
        head = self.read_head(f)
        if head is None:
            return False
        if not self.wait_not_stalled():
            return False
        reqline = head[0].decode("latin-1").rstrip("\r\n")
        method, target, _version = reqline.split(" ", 2)
        path = target.split("?", 1)[0]
        headers, length = [], 0
        for h in head[1:]:
            name, _, value = h.decode("latin-1").partition(":")
            lname = name.strip().lower()
            if lname == "content-length":
                length = int(value.strip())
            elif lname == "transfer-encoding":
                raise ValueError("chunked requests are not supported")
            if lname in ("connection", "keep-alive", "proxy-connection"):
                continue
            headers.append(h)
        if length > MAX_BODY:
            raise ValueError("body too large")
        body = f.read(length) if length else b""
        key = "%s %s" % (method, path)
        with self.st.lock:
            self.st.inflight[key] += 1
        try:
            return self.serve_request(c, raw, method, path, head[0], headers, body)
        finally:
            with self.st.lock:
                self.st.inflight[key] -= 1

    def serve_request(self, c, raw, method, path, reqline, headers, body):
        rule = self.match(method, path)
        with self.st.lock:
            mode, lat = self.st.mode, self.st.latency_ms
        delay = (rule or {}).get("latencyMs") or (lat if mode == "latency" else 0)
        if delay and not self.hold(raw, delay / 1000.0):
            return False  # reset or stopped meanwhile: never sent
        if rule and rule.get("status"):
            self.answer(c, method, path, rule)
            return True
        return self.forward(c, method, path, reqline, headers, body, rule or {})

    def answer(self, c, method, path, rule):
        status = int(rule["status"])
        reasons = {429: ("Too Many Requests", "TooManyRequests"),
                   500: ("Internal Server Error", "InternalError"),
                   503: ("Service Unavailable", "ServiceUnavailable")}
        text, reason = reasons.get(status, ("Error", "InternalError"))
        body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                           "message": "faultproxy: injected %d" % status, "reason": reason,
                           "code": status}).encode()
        hdr = ["HTTP/1.1 %d %s" % (status, text), "Content-Type: application/json",
               "Content-Length: %d" % len(body)]
        if rule.get("retryAfter") is not None:
            hdr.append("Retry-After: %s" % rule["retryAfter"])
        # Logged before the answer leaves: a client's next request cannot
        # be logged earlier than this one.
        self.record(method, path, status, True)
        c.sendall(("\r\n".join(hdr) + "\r\n\r\n").encode() + body)

    def forward(self, c, method, path, reqline, headers, body, rule):
        if rule.get("dropResponse") and rule.get("thenMode"):
            # The fault starts before the request goes on: no other
            # connection (a watch) hears of its effect before the client's
            # next attempt.
            self.set_mode(rule["thenMode"], spare=c)
        try:
            s = socket.create_connection(self.upstream, timeout=10)
            u = self.client_ctx.wrap_socket(s, server_hostname=self.upstream[0])
            u.settimeout(None)
        except (OSError, ssl.SSLError):
            self.record(method, path, 502, True)
            msg = b"upstream unreachable"
            c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: %d\r\n\r\n%s"
                      % (len(msg), msg))
            return True
        self.track(u)
        try:
            u.sendall(reqline + b"".join(headers) + b"Connection: close\r\n\r\n" + body)
            uf = u.makefile("rb")
            head = self.read_head(uf)
            if head is None:
                return False
            status = int(head[0].split()[1])
            self.record(method, path, status, False)
            if rule.get("dropResponse"):
                # The server did it; the client never hears: its
                # connection is reset (its retry meets thenMode).
                with self.st.lock:
                    self.st.socks.discard(c)
                hard_close(c)
                return False
            out, close_after = [head[0]], True
            for h in head[1:]:
                lname = h.split(b":", 1)[0].strip().lower()
                if lname in (b"content-length", b"transfer-encoding"):
                    close_after = False  # the client can find the end itself
                if lname in (b"connection", b"keep-alive"):
                    continue
                out.append(h)
            if close_after:
                out.append(b"Connection: close\r\n")
            c.sendall(b"".join(out) + b"\r\n")
            while True:
                t = time.monotonic()
                data = uf.read1(65536)
                if not data:
                    break
                if not self.wait_not_stalled():
                    return False
                self.pace(len(data), t)
                c.sendall(data)
            return not close_after
        finally:
            self.untrack(u)


def control_server(proxy, port):
    st = proxy.st

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def reply(self, code, obj):
            b = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)

        def do_GET(self):
            if self.path == "/state":
                self.reply(200, st.snapshot())
            elif self.path == "/requests":
                with st.lock:
                    self.reply(200, {"counts": dict(st.counts), "log": list(st.log),
                                     "inflight": {k: v for k, v in st.inflight.items() if v}})
            else:
                self.reply(404, {"error": "no such path"})

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            try:
                req = json.loads(self.rfile.read(n) or b"{}")
                if self.path == "/mode":
                    proxy.set_mode(req.get("mode", "pass"), req.get("latencyMs", 0),
                                   req.get("bytesPerSecond", 0))
                elif self.path == "/rules":
                    rules = req.get("rules", [])
                    for r in rules:
                        re.compile(r.get("path") or "")
                    with st.lock:
                        st.rules = [dict(r) for r in rules]
                elif self.path == "/requests/reset":
                    with st.lock:
                        st.counts.clear()
                        st.log.clear()
                else:
                    self.reply(404, {"error": "no such path"})
                    return
            except (ValueError, re.error, TypeError, OSError) as e:
                self.reply(400, {"error": str(e)})
                return
            self.reply(200, st.snapshot())

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


def main():
    ap = argparse.ArgumentParser(description="fault-injecting TCP/HTTP proxy (see the module doc)")
    ap.add_argument("--upstream", required=True, help="HOST:PORT to forward to")
    ap.add_argument("--port", type=int, default=0, help="port to listen on (0: any)")
    ap.add_argument("--control", type=int, default=0, help="control port (0: any)")
    ap.add_argument("--tls-cert", help="HTTP mode: serve TLS with this certificate")
    ap.add_argument("--tls-key", help="... and key")
    ap.add_argument("--upstream-ca", help="HTTP mode: CA that verifies the upstream")
    ap.add_argument("--ready-file", help="write the start line here too")
    args = ap.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key) or (args.tls_cert and not args.upstream_ca):
        ap.error("--tls-cert, --tls-key and --upstream-ca go together")
    proxy = Proxy(args)
    cport = control_server(proxy, args.control)
    line = json.dumps({"listen": proxy.port, "control": cport})
    if args.ready_file:
        with open(args.ready_file + ".tmp", "w") as f:
            f.write(line + "\n")
        os.replace(args.ready_file + ".tmp", args.ready_file)
    print(line, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


# --- a client for tests --------------------------------------------------------

class Client:
    """Starts a faultproxy and talks to its control port (for tests)."""

    def __init__(self, upstream, tls_cert=None, tls_key=None, upstream_ca=None, port=0):
        import subprocess
        import tempfile
        self.ready = tempfile.mktemp(prefix="faultproxy-ready-")
        args = [sys.executable, os.path.abspath(__file__), "--upstream", upstream,
                "--port", str(port), "--ready-file", self.ready]
        if tls_cert:
            args += ["--tls-cert", tls_cert, "--tls-key", tls_key, "--upstream-ca", upstream_ca]
        self.log = open(tempfile.mktemp(prefix="faultproxy-log-"), "w")
        self.p = subprocess.Popen(args, stdout=self.log, stderr=self.log, start_new_session=True)
        end = time.time() + 30
        while not os.path.exists(self.ready):
            if self.p.poll() is not None or time.time() > end:
                raise RuntimeError("faultproxy did not start")
            time.sleep(0.05)
        with open(self.ready) as f:
            info = json.loads(f.read())
        self.port, self.control = info["listen"], info["control"]

    def _call(self, method, path, obj=None):
        import urllib.request
        data = json.dumps(obj).encode() if obj is not None else None
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.control, path), data=data,
                                     method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read().decode())

    def mode(self, mode, latency_ms=0, bytes_per_second=0):
        return self._call("POST", "/mode", {"mode": mode, "latencyMs": latency_ms,
                                            "bytesPerSecond": bytes_per_second})

    def rules(self, rules):
        return self._call("POST", "/rules", {"rules": rules})

    def state(self):
        return self._call("GET", "/state")

    def requests(self):
        return self._call("GET", "/requests")

    def reset_requests(self):
        return self._call("POST", "/requests/reset", {})

    def stop(self):
        import signal
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            self.p.wait(10)
        self.log.close()
        try:
            os.unlink(self.ready)
        except OSError:
            pass


if __name__ == "__main__":
    main()
