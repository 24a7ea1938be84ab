"""moto's AWS emulator served on loopback, in a process of its own, for the sandbox and the
tests (moto's backends are global to a process, so a process per emulator keeps accounts
apart).

moto ships a werkzeug development server, which answers every request with
``Connection: close``; the AWS SDK for Go (inside the Terraform provider) now and then
fails reading such a response ("use of closed network connection"), and a retried
non-idempotent call then fails with "already exists". waitress speaks HTTP/1.1 with
keep-alive and is a real server, so the same app is served with it when it is installed;
without it moto's own server is used.

moto's backends are not thread-safe (a security group's rule list, for one, is replaced
wholesale by a revoke), so the server accepts connections on many threads but the app
answers one request at a time. The AWS SDK now and then repeats a call that the emulator
has already carried out and answered; a non-idempotent call such as a rule revoke then
fails the second time and Terraform stops ("the specified rule does not exist"), so a
repeated attempt gets the first attempt's answer (see :class:`Serialized`). Every request is
logged (action, status, AWS error code, the security group and rule it names, the SDK's
call id and attempt) to stdout, which the sandbox keeps in ``.kopsgen/sandbox/moto.log``.

    python -m kopsgen.emulator PORT     serve on 127.0.0.1:PORT until stopped
"""

from __future__ import annotations

import io
import os
import sys
import threading
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import parse_qs

HOST = "127.0.0.1"


def _app() -> Any:
    # Before moto is imported: IAM's AWS-managed policies must exist to be attached.
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    _bridge_moto()
    return Serialized(DomainDispatcherApplication(create_backend_app))


def _bridge_moto() -> None:
    """Emulator bugs the sandbox runs into, bridged here (never in the modules):

    - deleting the versions of a versioned bucket that holds a delete marker (Terraform's
      force_destroy of the assets bucket, after an object was deleted) fails with an
      internal error: moto's delete markers have no ``dispose``, which its key objects
      have and which holds nothing for a marker;
    - scaling a group out once its launch template has a second version (a pool's count
      raised after any change of its nodes) fails with an internal error: CreateLaunchTemplate
      keeps the user data as moto's Base64EncodedString, CreateLaunchTemplateVersion keeps the
      plain string, and launching from that version asserts the former. A new version's user
      data is kept as CreateLaunchTemplate keeps it;
    - moto has no instance refresh at all (StartInstanceRefresh is an unknown action):
      :func:`_bridge_instance_refresh` adds one."""
    from moto.ec2.models import launch_templates
    from moto.ec2.utils import parse_user_data
    from moto.s3 import models

    if not hasattr(models.FakeDeleteMarker, "dispose"):
        models.FakeDeleteMarker.dispose = lambda self, garbage=False: None

    create_version = launch_templates.LaunchTemplate.create_version
    if not getattr(create_version, "kopsgen_bridged", False):
        def bridged(self, data, description):
            if isinstance(data.get("UserData"), str):
                data = dict(data, UserData=parse_user_data(data["UserData"]))
            return create_version(self, data, description)

        bridged.kopsgen_bridged = True
        launch_templates.LaunchTemplate.create_version = bridged
    _bridge_instance_refresh()


#: Instance refreshes the emulator has carried out: group name -> their descriptions.
REFRESHES: dict[str, list[dict[str, Any]]] = {}


def _bridge_instance_refresh() -> None:
    """StartInstanceRefresh, DescribeInstanceRefreshes and CancelInstanceRefresh for moto,
    which has none of them.

    What the AWS provider does with them (terraform-provider-aws, the autoscaling group's
    update): a new launch template version of a group with an ``instance_refresh`` block
    starts a refresh (cancelling one in progress first), and Terraform does not wait for it.
    AWS then replaces the group's instances a few at a time, keeping
    ``min_healthy_percentage`` in service. The emulator replaces every instance of the group
    at once, on the group's current launch template version -- what an AWS refresh ends
    with, without the time between -- and describes that refresh as ``Successful``."""
    import uuid

    from moto.autoscaling.exceptions import AutoscalingClientError
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import ActionResult

    if getattr(AutoScalingResponse, "kopsgen_instance_refresh", False):
        return

    def start_instance_refresh(self: Any) -> Any:
        name = self._get_param("AutoScalingGroupName")
        backend = self.autoscaling_backend
        group = backend.autoscaling_groups[name]
        old = [state.instance.id for state in group.instance_states]
        for instance_id in old:  # each termination launches its replacement
            backend.terminate_instance(instance_id, should_decrement=False)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        refresh = {"InstanceRefreshId": str(uuid.uuid4()), "AutoScalingGroupName": name,
                   "Status": "Successful", "StartTime": now, "EndTime": now,
                   "PercentageComplete": 100, "InstancesToUpdate": 0,
                   "StatusReason": f"kopsgen emulator: {len(old)} instance(s) replaced at once"}
        REFRESHES.setdefault(name, []).insert(0, refresh)
        return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})

    def describe_instance_refreshes(self: Any) -> Any:
        name = self._get_param("AutoScalingGroupName")
        return ActionResult({"InstanceRefreshes": REFRESHES.get(name, [])})

    def cancel_instance_refresh(self: Any) -> Any:
        # Every emulated refresh has finished when it starts: none is in progress.
        raise AutoscalingClientError("ActiveInstanceRefreshNotFound",
                                     "No in progress or pending Instance Refresh found")

    AutoScalingResponse.start_instance_refresh = start_instance_refresh
    AutoScalingResponse.describe_instance_refreshes = describe_instance_refreshes
    AutoScalingResponse.cancel_instance_refresh = cancel_instance_refresh
    AutoScalingResponse.kopsgen_instance_refresh = True


#: Answers kept for SDK retries (they come within seconds of the first attempt).
REMEMBERED_ANSWERS = 512
_REMEMBER_MAX_BYTES = 1 << 20


class Serialized:
    """WSGI middleware: one request at a time through ``app``, each logged in one line, and
    a retried SDK call answered with what its first attempt got.

    The AWS SDK for Go now and then sends a call again although the emulator has carried it
    out and answered 200 (the log shows ``attempt=2`` with the same ``call=`` id). AWS calls
    such as RevokeSecurityGroupEgress are not idempotent: run twice, the second fails ("the
    specified rule does not exist") and Terraform stops. So a repeated attempt of a call
    that was answered gets that answer again instead of being run again."""

    def __init__(self, app: Any, log: Any = None) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.log = log if log is not None else sys.stdout
        self.answers: OrderedDict[str, tuple[str, list[Any], list[bytes]]] = OrderedDict()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        call = environ.get("HTTP_AMZ_SDK_INVOCATION_ID", "")
        seen: dict[str, Any] = {}

        def record(status: str, headers: Any, exc_info: Any = None) -> Any:
            seen["status"], seen["headers"] = status, list(headers)
            return start_response(status, headers, exc_info)

        with self.lock:
            answered = self.answers.get(call) if call and _attempt(environ) > 1 else None
            if answered is not None:
                status, headers, chunks = answered
                start_response(status, headers)
                line = _describe(environ, body, status.split(" ", 1)[0], chunks) + " replayed"
            else:
                result = self.app(environ, record)
                try:
                    chunks = list(result)  # the whole answer is produced under the lock
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
                status = seen.get("status", "?")
                if call and environ.get("REQUEST_METHOD") not in ("GET", "HEAD") \
                        and not status.startswith("5") \
                        and sum(map(len, chunks)) <= _REMEMBER_MAX_BYTES:
                    self.answers[call] = (status, seen.get("headers", []), chunks)
                    while len(self.answers) > REMEMBERED_ANSWERS:
                        self.answers.popitem(last=False)
                line = _describe(environ, body, status.split(" ", 1)[0], chunks)
        self.log.write(line + "\n")
        self.log.flush()
        return chunks


def _attempt(environ: dict[str, Any]) -> int:
    """The SDK's attempt number (``amz-sdk-request: attempt=2; max=3``), 1 if absent."""
    first = environ.get("HTTP_AMZ_SDK_REQUEST", "").split(";", 1)[0].strip()
    try:
        return int(first.split("=", 1)[1]) if first.startswith("attempt=") else 1
    except ValueError:
        return 1


#: Query-protocol parameters that say which object a call acted on (security group rules are
#: what Terraform has failed to delete in the emulator).
_LOGGED_PARAMS = ("GroupId", "SecurityGroupRuleId.1", "SecurityGroupRuleId.2")


def _describe(environ: dict[str, Any], body: bytes, status: str, chunks: list[bytes]) -> str:
    """``time METHOD host path action status [error code] [params] [sdk call, attempt]``
    for the access log. The SDK's invocation id and attempt number show a retried call."""
    action = environ.get("HTTP_X_AMZ_TARGET", "")
    params: dict[str, list[str]] = {}
    if not action and b"Action=" in body:
        params = parse_qs(body.decode("utf-8", "replace"))
        action = params.get("Action", [""])[0]
    line = (f"{time.strftime('%H:%M:%S')} {environ.get('REQUEST_METHOD')} "
            f"{environ.get('HTTP_HOST', '')} {environ.get('PATH_INFO', '')} {action} {status}")
    line += _error_code(status, chunks)
    line += "".join(f" {k}={params[k][0]}" for k in _LOGGED_PARAMS if k in params)
    call = environ.get("HTTP_AMZ_SDK_INVOCATION_ID", "")
    if call:
        line += f" call={call[:8]}"
    attempt = _attempt(environ)
    if attempt > 1:
        line += f" attempt={attempt}"
    return line


def _error_code(status: str, chunks: list[bytes]) -> str:
    """`` CODE`` of an AWS error answer (XML or JSON protocol), else empty."""
    if not status.startswith(("4", "5")):
        return ""
    text = b"".join(chunks)[:2000].decode("utf-8", "replace")
    for marker in ("<Code>", '"__type": "', '"__type":"'):
        at = text.find(marker)
        if at >= 0:
            return " " + text[at + len(marker):].split("<", 1)[0].split('"', 1)[0]
    return ""


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
