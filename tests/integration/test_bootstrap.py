"""The EC2 user data's bootstrap, run as rendered by Terraform (modules/bootstrap): its
kopsgen-s3-get fetches from S3 (the moto emulator) with the instance role's credentials from
an instance metadata stand-in that demands IMDSv2 tokens, and kopsgen-cloud-config puts the
exact cloud-config version the user data names in place, from its cache or from S3."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import helpers
import pytest
import yaml
from test_modules_terraform import render_bootstrap

pytestmark = pytest.mark.slow

BUCKET, PREFIX = "example-assets", "clusters/k8s"
KEY = "userdata/pools/pool-a/cloud-config-worker"


class Imds(BaseHTTPRequestHandler):
    """IMDSv2: a PUT for a token first; metadata only with a valid token."""

    tokens: set[str] = set()

    def do_PUT(self) -> None:  # noqa: N802
        if self.path != "/latest/api/token" or "X-aws-ec2-metadata-token-ttl-seconds" not in self.headers:
            self._send(400, "")
            return
        token = f"t{len(self.tokens)}"
        self.tokens.add(token)
        self._send(200, token)

    def do_GET(self) -> None:  # noqa: N802
        if self.headers.get("X-aws-ec2-metadata-token") not in self.tokens:
            self._send(401, "")
            return
        base = "/latest/meta-data/iam/security-credentials/"
        if self.path == base:
            self._send(200, "k8s-worker")
        elif self.path == base + "k8s-worker":
            self._send(200, json.dumps({"Code": "Success", "AccessKeyId": "ASIAKOPSGENTEST",
                                        "SecretAccessKey": "secret", "Token": "session-token"}))
        else:
            self._send(404, "")

    def _send(self, code: int, body: str) -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(s3 client, env for the scripts, the rendered user data's files)."""
    helpers.require_module("moto.server")
    import boto3
    from moto.server import ThreadedMotoServer

    tmp = tmp_path_factory.mktemp("bootstrap")
    user_data = render_bootstrap(tmp, role="worker", sha="ab" * 32, pool="pool-a", etcd="",
                                 key=KEY)
    files = {f["path"]: f for f in yaml.safe_load(user_data)["write_files"]}
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    imds = ThreadingHTTPServer(("127.0.0.1", 0), Imds)
    threading.Thread(target=imds.serve_forever, daemon=True).start()
    host, port = server.get_host_and_port()
    try:
        s3 = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="eu-west-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
        s3.create_bucket(Bucket=BUCKET,
                         CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        bindir = tmp / "bin"
        bindir.mkdir()
        for path, f in files.items():
            if path.startswith("/opt/bin/"):
                (bindir / Path(path).name).write_text(f["content"])
                (bindir / Path(path).name).chmod(int(f["permissions"], 8))
        env_file = tmp / "environment"
        env_file.write_text(files["/etc/kopsgen/environment"]["content"])
        env = {**os.environ, "KOPSGEN_ENVIRONMENT": str(env_file),
               "KOPSGEN_IMDS_ENDPOINT": f"http://127.0.0.1:{imds.server_address[1]}",
               "KOPSGEN_S3_ENDPOINT": f"http://{host}:{port}/{BUCKET}",
               "KOPSGEN_S3_GET": str(bindir / "kopsgen-s3-get"),
               "KOPSGEN_S3_GET_MAX_DELAY": "1", "KOPSGEN_CLOUD_CONFIG_RETRY": "1"}
        yield s3, env, bindir
    finally:
        imds.shutdown()
        server.stop()


def put_later(s3, body: bytes, after: float) -> threading.Thread:
    def upload() -> None:
        time.sleep(after)
        s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{KEY}", Body=body)
    thread = threading.Thread(target=upload)
    thread.start()
    return thread


def test_s3_get_keeps_trying_until_the_object_is_there(world, tmp_path):
    """Past the 12 attempts (about six minutes) after which the first release gave up."""
    s3, env, bindir = world
    s3.delete_object(Bucket=BUCKET, Key=f"{PREFIX}/{KEY}")
    dest = tmp_path / "got"
    proc = subprocess.Popen([str(bindir / "kopsgen-s3-get"), KEY, str(dest)], env=env,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    attempts = 0
    lines = []
    while attempts < 14 and time.monotonic() < deadline:
        line = proc.stderr.readline()
        lines.append(line)
        attempts += "not fetched" in line
    assert attempts == 14, lines
    assert proc.poll() is None  # still trying
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{KEY}", Body=b"#cloud-config\n")
    assert proc.wait(timeout=30) == 0
    assert dest.read_bytes() == b"#cloud-config\n"
    assert oct(dest.stat().st_mode & 0o777) == "0o600"
    # Each attempt says why it failed: here the object is missing (HTTP 404 from S3).
    assert "404" in lines[0] and "attempt 1" in lines[0], lines[0]
    assert "giving up" not in "".join(lines)


def test_s3_get_gives_up_only_when_told(world, tmp_path):
    s3, env, bindir = world
    s3.delete_object(Bucket=BUCKET, Key=f"{PREFIX}/{KEY}")
    proc = subprocess.run([str(bindir / "kopsgen-s3-get"), KEY, str(tmp_path / "x")],
                          env={**env, "KOPSGEN_S3_GET_ATTEMPTS": "3"}, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1
    assert "giving up on userdata/pools/pool-a/cloud-config-worker after 3 attempts" in proc.stderr
    assert not (tmp_path / "x").exists()


def cloud_config(world, tmp: Path, want: bytes) -> subprocess.Popen:
    _, env, bindir = world
    environment = Path(env["KOPSGEN_ENVIRONMENT"]).read_text()
    digest = hashlib.sha256(want).hexdigest()
    mine = tmp / "environment"
    mine.write_text("\n".join(
        f'KOPSGEN_CLOUD_CONFIG_SHA256="{digest}"' if line.startswith("KOPSGEN_CLOUD_CONFIG_SHA256=")
        else line for line in environment.splitlines()) + "\n")
    return subprocess.Popen([str(bindir / "kopsgen-cloud-config"), str(tmp / "cloud-config")],
                            env={**env, "KOPSGEN_ENVIRONMENT": str(mine)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_cloud_config_applies_only_the_version_the_instance_was_created_with(world, tmp_path):
    s3, _, _ = world
    created_with, newer = b"#cloud-config\n# version 1\n", b"#cloud-config\n# version 2\n"
    # First boot: S3 holds a newer version (the cluster changed since the launch); the
    # bootstrap waits for its own, which it gets once S3 has it again.
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{KEY}", Body=newer)
    proc = cloud_config(world, tmp_path, created_with)
    upload = put_later(s3, created_with, after=3)
    out, _ = proc.communicate(timeout=60)
    upload.join()
    assert proc.returncode == 0, out
    assert (tmp_path / "cloud-config").read_bytes() == created_with
    assert f"has SHA-256 {hashlib.sha256(newer).hexdigest()}, but this instance was created for" \
        in out
    # A reboot applies the kept copy, whatever S3 holds by then -- and without asking S3.
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{KEY}", Body=newer)
    proc = cloud_config(world, tmp_path, created_with)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "applying the cloud-config this instance was created with" in out
    assert (tmp_path / "cloud-config").read_bytes() == created_with
    # A kept copy that is not the named version (a broken disk, an edit) is fetched anew.
    (tmp_path / "cloud-config").write_bytes(b"#cloud-config\n# edited\n")
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{KEY}", Body=created_with)
    proc = cloud_config(world, tmp_path, created_with)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "fetched" in out
    assert (tmp_path / "cloud-config").read_bytes() == created_with
