"""Shared test helpers: finding outside programs and the offline Terraform provider mirror.

Tests that need an outside program call :func:`require_tool`. Where the program is missing
the test is skipped with a visible reason -- unless ``KOPSGEN_REQUIRE_TOOLS=1`` (set by
``.ci/run``), which turns the skip into a failure so CI never silently skips.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def tools_required() -> bool:
    return os.environ.get("KOPSGEN_REQUIRE_TOOLS", "") not in ("", "0", "false", "no")


def missing(reason: str) -> None:
    """Skip (or, when tools are required, fail) with ``reason``."""
    if tools_required():
        pytest.fail(f"KOPSGEN_REQUIRE_TOOLS=1 and {reason}", pytrace=False)
    pytest.skip(reason)


def require_tool(name: str) -> str:
    """Return the path of program ``name`` or skip/fail the test visibly."""
    path = shutil.which(name)
    if path is None:
        missing(f"'{name}' is not on PATH")
    return path  # type: ignore[return-value]


def require_module(name: str):
    """Import a Python module the test needs (e.g. moto.server) or skip/fail visibly."""
    try:
        return __import__(name, fromlist=["_"])
    except ImportError as exc:  # pragma: no cover - depends on the machine
        missing(f"Python module {name!r} is not installed ({exc})")


def find_provider_mirror() -> Path | None:
    """The local Terraform provider mirror (a directory named tf-plugins), if any."""
    env = os.environ.get("KOPSGEN_TF_PLUGIN_MIRROR")
    if env and Path(env).is_dir():
        return Path(env)
    for base in (Path("/opt"), Path("/usr/local/share"), Path("/usr/share"), Path("/srv")):
        cand = base / "tf-plugins"
        if cand.is_dir():
            return cand
    return None


def terraform_env(tmp: Path) -> dict[str, str]:
    """Environment for running the real terraform offline in tests.

    Where the mirror exists, write a CLI config that installs providers only from it;
    elsewhere leave normal registry installs alone. A plugin cache shared by the test
    session keeps repeated ``terraform init`` fast.
    """
    env = dict(os.environ)
    env["TF_IN_AUTOMATION"] = "1"
    env["CHECKPOINT_DISABLE"] = "1"
    mirror = find_provider_mirror()
    if mirror is not None:
        cfg = tmp / "terraform.rc"
        cfg.write_text(
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path    = "{mirror}"\n'
            '    include = ["registry.terraform.io/*/*"]\n  }\n'
            '  direct {\n    exclude = ["registry.terraform.io/*/*"]\n  }\n'
            "}\n"
        )
        env["TF_CLI_CONFIG_FILE"] = str(cfg)
    return env


def render_example(name: str, dest: Path) -> Path:
    """Render examples/<name> with kopsgen into ``dest`` (a new cluster directory);
    returns its terraform/ directory."""
    from kopsgen import core

    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "examples" / name / "cluster.yaml", dest / "cluster.yaml")
    core.write(dest, core.render(dest))
    return dest / "terraform"


def etcd_member_table(text: str) -> dict[str, tuple[str, bool]]:
    """name -> (status, is learner) from `etcdctl member list` (simple format) output."""
    table = {}
    for line in text.splitlines():
        _, status, name, *_, learner = [f.strip() for f in line.split(",")]
        table[name or "(unstarted)"] = (status, learner == "true")
    return table


class FakeSession:
    """What lifecycle functions need of a Session, for a rendered cluster directory."""

    def __init__(self, cluster_dir: Path, part: str | None = None):
        from kopsgen import core

        self.cluster_dir = cluster_dir
        self.spec = core.render(cluster_dir, part).loaded.spec
        self.said: list[str] = []

    def say(self, line: str) -> None:
        self.said.append(line)


def foreground_signals() -> None:
    """``preexec_fn`` for a child that plays the terminal's foreground job: SIGINT and
    SIGQUIT back to their defaults. A shell without job control starts background commands
    with both ignored, and the child would inherit that, so Ctrl-C tests would test nothing
    when the suite itself was started that way."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


@contextlib.contextmanager
def tls_server(creds: dict[str, bytes], handler, tmp: Path):
    """An HTTPS server on loopback that presents apiserver.pem and demands a client
    certificate signed by ca.pem, as kube-apiserver does; yields the server. Its
    ``clients`` list collects the CNs of the clients it served, its ``rejected`` list the
    reason of every handshake it refused (e.g. "unable to get local issuer certificate")."""
    import socket
    import ssl
    import threading
    from http.server import ThreadingHTTPServer

    for name in ("ca.pem", "apiserver.pem", "apiserver-key.pem"):
        (tmp / name).write_bytes(creds[name])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp / "apiserver.pem", tmp / "apiserver-key.pem")
    ctx.load_verify_locations(tmp / "ca.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED  # like kube-apiserver --client-ca-file

    class Server(ThreadingHTTPServer):
        def get_request(self):
            conn, addr = self.socket.accept()
            conn.settimeout(10)
            tls = ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
            try:
                tls.do_handshake()
                return tls, addr
            except OSError as exc:
                self.rejected.append(getattr(exc, "verify_message", None) or str(exc))
                conn = socket.socket(fileno=tls.detach())
                conn.settimeout(10)
                # With TLS 1.3 the client learns of the refusal only after it has sent its
                # request. Closing with that request unread would answer with a TCP reset
                # that can overtake the alert; read until the client hangs up, so it
                # always sees the alert, as it does from kube-apiserver.
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_WR)
                    while conn.recv(65536):
                        pass
                conn.close()
                raise

    httpd = Server(("127.0.0.1", 0), handler)
    httpd.clients = []  # type: ignore[attr-defined]
    httpd.rejected = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def emulator(log: Path, **env: str):
    """The AWS emulator (``python -m kopsgen.emulator``) in a process of its own on a free
    loopback port, with ``env`` added to its environment and its output in ``log``; yields
    its endpoint URL. A process of its own: moto's backends are global to a process."""
    require_module("moto.server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "kopsgen.emulator", str(port)],
                                stdout=out, stderr=out, env=dict(os.environ, **env))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)

