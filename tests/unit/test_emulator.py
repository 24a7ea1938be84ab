"""The emulator's WSGI wrapper: moto's backends are not thread-safe, so requests that the
server accepts on many threads reach moto one at a time, and each one is logged."""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from kopsgen.emulator import Serialized


class SlowApp:
    def __init__(self):
        self.inside = 0
        self.most = 0
        self.guard = threading.Lock()

    def __call__(self, environ, start_response):
        with self.guard:
            self.inside += 1
            self.most = max(self.most, self.inside)
        time.sleep(0.01)
        body = environ["wsgi.input"].read()
        with self.guard:
            self.inside -= 1
        if b"Action=Fail" in body:
            start_response("400 Bad Request", [])
            return [b"<Response><Errors><Error><Code>InvalidPermission.NotFound</Code>"]
        start_response("200 OK", [])
        return [b"<ok/>"]


def request(app, body: bytes, target: str = ""):
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "HTTP_HOST": "127.0.0.1:1",
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    if target:
        environ["HTTP_X_AMZ_TARGET"] = target
    seen = {}
    chunks = app(environ, lambda status, headers, exc_info=None: seen.setdefault("s", status))
    return seen["s"], b"".join(chunks)


def test_requests_reach_the_app_one_at_a_time_and_are_logged():
    inner, log = SlowApp(), io.StringIO()
    app = Serialized(inner, log)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: request(app, f"Action=Describe{i}&V=1".encode()),
                                range(16)))
    assert inner.most == 1
    assert all(status == "200 OK" and body == b"<ok/>" for status, body in answers)
    lines = log.getvalue().splitlines()
    assert len(lines) == 16 and all(" POST 127.0.0.1:1 / Describe" in ln for ln in lines)


def test_the_log_names_the_aws_error_code_and_json_targets():
    log = io.StringIO()
    app = Serialized(SlowApp(), log)
    assert request(app, b"Action=Fail&GroupId=sg-1")[0] == "400 Bad Request"
    request(app, b"{}", target="TrentService.DescribeKey")
    first, second = log.getvalue().splitlines()
    assert first.endswith(" Fail 400 InvalidPermission.NotFound")
    assert second.endswith(" TrentService.DescribeKey 200")
