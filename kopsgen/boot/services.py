"""What the AWS network gives an instance, for the sandbox machines -- one process, its
listening sockets inside the sandbox network, its calls to the emulator on loopback:

- the instance metadata service at 169.254.169.254, with IMDSv2 semantics: a token from
  ``PUT /latest/api/token`` (its TTL header required, 1-21600 s) for every read, 401
  without one, no proxied requests (X-Forwarded-For is refused), and the token's answer
  sent with the instance's hop limit as its IP TTL (``http_put_response_hop_limit``), so
  a container behind the instance cannot get one. It answers with the instance's id, zone,
  region, hostname and address, its user data, and the credentials of its instance profile
  (a role assumed in the emulator's STS, its session named for the instance ID, as EC2
  names an instance profile's sessions: what the controllers' approver checks);
- S3 at its real names (``<bucket>.s3.<region>.amazonaws.com``) over HTTPS, handed to the
  emulator unchanged (the request's SigV4 signature included);
- the release mirror (:mod:`kopsgen.boot.mirror`) at the hosts the install scripts name
  (dl.k8s.io, github.com) and at ``assets.fileRepository``, over HTTPS and HTTP;
- stand-ins for the API load balancers: TCP on 443 forwarded to the controllers' 443.

TLS is the sandbox's own CA, which the machines trust. Run as
``python -m kopsgen.boot.services CONFIG``; SIGHUP re-reads CONFIG (machines come and go).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import http.client
import json
import os
import secrets
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


class Config:
    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()
        self.data: dict = {}
        self.reload()

    def reload(self) -> None:
        with self.lock:
            self.data = json.loads(self.path.read_text())

    def get(self, *keys, default=None):
        with self.lock:
            value = self.data
            for k in keys:
                if not isinstance(value, dict) or k not in value:
                    return default
                value = value[k]
            return value


CONFIG: Config
TOKENS: dict[str, tuple[str, float]] = {}  # token -> (client address, expiry)
CREDENTIALS: dict[tuple[str, str], dict] = {}  # (role ARN, instance ID) -> AssumeRole credentials
HUB_FD = -1


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


# ------------------------------------------------------------------------------ IMDS


class Imds(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def instance(self) -> dict | None:
        return CONFIG.get("instances", self.client_address[0])

    def send(self, code: int, body: str = "", *, ttl: int | None = None) -> None:
        if ttl is not None:
            self.connection.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:  # noqa: N802
        inst = self.instance()
        if inst is None or self.path != "/latest/api/token":
            return self.send(404)
        if "X-Forwarded-For" in self.headers:
            return self.send(403)
        try:
            ttl = int(self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", ""))
        except ValueError:
            return self.send(400)
        if not 1 <= ttl <= 21600:
            return self.send(400)
        token = secrets.token_urlsafe(24)
        TOKENS[token] = (self.client_address[0], time.monotonic() + ttl)
        self.send(200, token, ttl=int(inst.get("hop_limit", 1)))

    def do_GET(self) -> None:  # noqa: N802
        inst = self.instance()
        if inst is None:
            return self.send(404)
        owner, expiry = TOKENS.get(self.headers.get("X-aws-ec2-metadata-token", ""), ("", 0))
        if owner != self.client_address[0] or expiry < time.monotonic():
            return self.send(401)  # IMDSv2 only (http_tokens = required)
        path = self.path.split("?", 1)[0]
        if path == "/latest/user-data":
            return self.send(200, base64.b64decode(inst["user_data_b64"]).decode())
        meta = {
            "instance-id": inst["instance_id"], "local-ipv4": self.client_address[0],
            "local-hostname": inst["hostname"], "hostname": inst["hostname"],
            "placement/availability-zone": inst["zone"], "placement/region": inst["region"],
            "iam/security-credentials/": inst["role_name"],
        }
        key = path.removeprefix("/latest/meta-data/")
        if key in meta:
            return self.send(200, meta[key])
        if key == f"iam/security-credentials/{inst['role_name']}":
            return self.send(200, json.dumps(credentials(inst["role_arn"], inst["instance_id"])))
        self.send(404)

    def log_message(self, fmt, *args) -> None:
        log(f"imds {self.client_address[0]} {fmt % args}")


def credentials(role_arn: str, session: str) -> dict:
    cached = CREDENTIALS.get((role_arn, session))
    if cached is None or cached["expires"] < time.time() + 300:
        import boto3

        sts = boto3.client("sts", endpoint_url=CONFIG.get("emulator"),
                           region_name=CONFIG.get("region"), aws_access_key_id="kopsgen-sandbox",
                           aws_secret_access_key="kopsgen-sandbox")
        c = sts.assume_role(RoleArn=role_arn, RoleSessionName=session)["Credentials"]
        cached = {"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": c["AccessKeyId"],
                  "SecretAccessKey": c["SecretAccessKey"], "Token": c["SessionToken"],
                  "Expiration": c["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "LastUpdated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "expires": c["Expiration"].timestamp()}
        CREDENTIALS[(role_arn, session)] = cached
    return {k: v for k, v in cached.items() if k != "expires"}


# -------------------------------------------------------------------- S3 and the mirror


HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}


class Web(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _host(self) -> str:
        return (self.headers.get("Host") or "").split(":", 1)[0].lower()

    def handle_any(self) -> None:
        host = self._host()
        if host.endswith(".amazonaws.com"):
            return self.proxy(host)
        if self.command not in ("GET", "HEAD"):
            return self.answer(405, b"")
        root = Path(CONFIG.get("mirror_root"))
        path = self.path.split("?", 1)[0]
        repo = CONFIG.get("file_repository") or {}
        if host == repo.get("host") and path.startswith(repo.get("prefix", "") + "/"):
            rel = path[len(repo.get("prefix", "")) + 1:]
        else:
            rel = f"{host}{path}"
        target = (root / rel).resolve()
        if root.resolve() not in target.parents or not target.is_file():
            log(f"mirror {self.client_address[0]} 404 {host}{path}")
            return self.answer(404, b"not in the sandbox mirror\n")
        log(f"mirror {self.client_address[0]} 200 {host}{path}")
        self.answer(200, target.read_bytes())

    def answer(self, code: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def proxy(self, host: str) -> None:
        body = self._body()
        emulator = CONFIG.get("emulator").removeprefix("http://")
        conn = http.client.HTTPConnection(emulator, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        conn.request(self.command, self.path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        log(f"s3 {self.client_address[0]} {self.command} {host}{self.path.split('?')[0]} "
            f"{resp.status}")
        self.answer(resp.status, data, {k: v for k, v in resp.getheaders()
                                        if k.lower() not in HOP_BY_HOP | {"content-length"}})

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = handle_any  # noqa: N815

    def log_message(self, *args) -> None:
        pass


# ------------------------------------------------------------------ load balancer stand-in


class Forward(socketserver.BaseRequestHandler):
    """A network load balancer stand-in: each connection to one of the targets, in turn."""

    turn = 0

    def handle(self) -> None:
        setns(HUB_FD)  # this thread's connections go into the sandbox network
        lb = CONFIG.get("load_balancers", f"{self.server.server_address[0]}") or {}
        targets = lb.get("targets", [])
        if not targets:
            return
        Forward.turn += 1
        target = targets[Forward.turn % len(targets)]
        try:
            upstream = socket.create_connection((target, lb.get("port", 443)), timeout=5)
        except OSError as exc:
            log(f"lb {lb.get('name')} -> {target}: {exc}")
            return
        pipes = [threading.Thread(target=_pipe, args=(a, b), daemon=True)
                 for a, b in ((self.request, upstream), (upstream, self.request))]
        for p in pipes:
            p.start()
        for p in pipes:
            p.join()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


class ThreadingTCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv: list[str]) -> int:
    global CONFIG, HUB_FD
    CONFIG = Config(Path(argv[0]))
    root_fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    HUB_FD = os.open(CONFIG.get("netns"), os.O_RDONLY)
    servers = []
    setns(HUB_FD)  # listen inside the sandbox network ...
    try:
        ThreadingHTTPServer.daemon_threads = True
        servers.append(ThreadingHTTPServer((CONFIG.get("imds_address"), 80), Imds))
        web_address = CONFIG.get("web_address")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(CONFIG.get("tls_cert"), CONFIG.get("tls_key"))

        class Https(ThreadingHTTPServer):
            def get_request(self):
                conn, addr = self.socket.accept()
                # The handshake happens in the request's own thread, on its first read.
                return ctx.wrap_socket(conn, server_side=True,
                                       do_handshake_on_connect=False), addr

        servers += [Https((web_address, 443), Web), ThreadingHTTPServer((web_address, 80), Web)]
        for address in CONFIG.get("load_balancers", default={}):
            servers.append(ThreadingTCPServer((address, 443), Forward))
    finally:
        setns(root_fd)  # ... and reach the emulator on this machine's loopback
    signal.signal(signal.SIGHUP, lambda *_: CONFIG.reload())
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    log(f"sandbox services: metadata on {CONFIG.get('imds_address')}, S3 and the mirror on "
        f"{web_address}, {len(servers) - 3} load balancer stand-in(s)")
    (Path(argv[0]).parent / "services.ready").write_text(str(os.getpid()))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
