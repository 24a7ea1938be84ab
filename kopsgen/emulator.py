"""moto's AWS emulator served on loopback, in a process of its own, for the sandbox and the
tests (moto's backends are global to a process, so a process per emulator keeps accounts
apart).

moto ships a werkzeug development server, which answers every request with
``Connection: close``; the AWS SDK for Go (inside the Terraform provider) now and then
fails reading such a response ("use of closed network connection"), and a retried
non-idempotent call then fails with "already exists". waitress speaks HTTP/1.1 with
keep-alive and is a real server, so the same app is served with it when it is installed;
without it moto's own server is used.

    python -m kopsgen.emulator PORT     serve on 127.0.0.1:PORT until stopped
"""

from __future__ import annotations

import os
import sys
from typing import Any

HOST = "127.0.0.1"


def _app() -> Any:
    # Before moto is imported: IAM's AWS-managed policies must exist to be attached.
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return DomainDispatcherApplication(create_backend_app)


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
