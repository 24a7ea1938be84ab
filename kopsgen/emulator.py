"""moto's AWS emulator served on loopback, in a process of its own, for the sandbox and the
tests (moto's backends are global to a process, so a process per emulator keeps accounts
apart).

moto ships a werkzeug development server, which answers every request with
``Connection: close``; the AWS SDK for Go (inside the Terraform provider) now and then
fails reading such a response ("use of closed network connection"), and a retried
non-idempotent call then fails with "already exists". waitress speaks HTTP/1.1 with
keep-alive and is a real server, so the same app is served with it when it is installed;
without it moto's own server is used.

moto's backends are not thread-safe: a security group's rule list, for one, is replaced
wholesale by a revoke, so a rule authorised or revoked by another thread at that moment is
lost or comes back, and Terraform later fails deleting a rule that "does not exist". The
server accepts connections on many threads, but the app answers one request at a time.
Every request is logged (action, status, AWS error code) to stdout, which the sandbox keeps
in ``.kopsgen/sandbox/moto.log``.

    python -m kopsgen.emulator PORT     serve on 127.0.0.1:PORT until stopped
"""

from __future__ import annotations

import io
import os
import sys
import threading
import time
from typing import Any
from urllib.parse import parse_qs

HOST = "127.0.0.1"


def _app() -> Any:
    # Before moto is imported: IAM's AWS-managed policies must exist to be attached.
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return Serialized(DomainDispatcherApplication(create_backend_app))


class Serialized:
    """WSGI middleware: one request at a time through ``app``, each logged in one line."""

    def __init__(self, app: Any, log: Any = None) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.log = log if log is not None else sys.stdout

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        seen: dict[str, str] = {}

        def record(status: str, headers: Any, exc_info: Any = None) -> Any:
            seen["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        with self.lock:
            result = self.app(environ, record)
            try:
                chunks = list(result)  # the whole answer is produced under the lock
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        self.log.write(_describe(environ, body, seen.get("status", "?"), chunks) + "\n")
        self.log.flush()
        return chunks


def _describe(environ: dict[str, Any], body: bytes, status: str, chunks: list[bytes]) -> str:
    """``time METHOD host path action status [error code]`` for the access log."""
    action = environ.get("HTTP_X_AMZ_TARGET", "")
    if not action and b"Action=" in body:
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
    line = (f"{time.strftime('%H:%M:%S')} {environ.get('REQUEST_METHOD')} "
            f"{environ.get('HTTP_HOST', '')} {environ.get('PATH_INFO', '')} {action} {status}")
    if status.startswith(("4", "5")):
        text = b"".join(chunks)[:2000].decode("utf-8", "replace")
        for marker in ("<Code>", '"__type": "', '"__type":"'):
            at = text.find(marker)
            if at >= 0:
                code = text[at + len(marker):].split("<", 1)[0].split('"', 1)[0]
                line += f" {code}"
                break
    return line


def _waitress_server(port: int) -> Any | None:
    try:
        from waitress.server import create_server
    except ImportError:
        return None
    # Terraform runs many calls at once; waitress queues what exceeds its threads.
    return create_server(_app(), host=HOST, port=port, threads=16, channel_timeout=300,
                         connection_limit=500)


def main(argv: list[str]) -> None:
    port = int(argv[1])
    server = _waitress_server(port)
    if server is None:
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import run_simple

        run_simple(HOST, port, _app(), threaded=True, request_handler=MotoRequestHandler)
        return
    server.run()


if __name__ == "__main__":
    main(sys.argv)
