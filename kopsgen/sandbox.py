"""The sandbox: the whole lifecycle against an AWS emulator (moto) on loopback.

``--sandbox`` needs no AWS account. kopsgen starts moto's server on 127.0.0.1 (a detached
process, so the emulated account outlives one command: ``up --sandbox`` then ``status
--sandbox`` then ``destroy --sandbox`` see the same resources) and works in a scratch copy of
the workspace under ``.kopsgen/sandbox/`` with its own local state. The committed
``terraform/`` never changes: everything the emulator needs goes into an override file of
the scratch copy --

- the provider's endpoints, dummy credentials and a local backend;
- what cluster.yaml says already exists, created in the emulator first (the hosted zone, the
  key pair, the state bucket, a KMS key standing in for kmsKeyArn), with the emulator's IDs
  passed to the modules that take them;
- an image id moto knows instead of the Flatcar image lookup (moto has no Flatcar images);
- an assets bucket policy moto can evaluate (it ignores a Deny's conditions), and
  ``ignore_changes`` for what moto does not give back as it was written (``EMULATOR_DRIFT``).

moto has no instance refresh; the emulator process adds one (``kopsgen.emulator``), so an
update that rolls a pool replaces its instances in the sandbox too.

``plan --sandbox`` that started the emulator stops it again (a pipeline leaves nothing
running); ``up`` leaves it running and says so; ``destroy --sandbox`` stops it at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kopsgen import naming
from kopsgen.errors import ExitCode, KopsgenError, UsageError
from kopsgen.spec.model import Spec

SANDBOX_DIR = Path(".kopsgen") / "sandbox"
SERVER_FILE = "server.json"
#: Dummy credentials: moto accepts any; real ones must never reach the emulator's logs.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "kopsgen-sandbox", "AWS_SECRET_ACCESS_KEY": "kopsgen-sandbox",
               "AWS_SESSION_TOKEN": ""}
SERVICES = ("autoscaling", "ec2", "elbv2", "iam", "kms", "route53", "s3", "sts", "logs",
            "sqs", "events", "resourcegroupstaggingapi")
#: Modules that take the KMS key ARN, the image id, the hosted zone (see kopsgen.render.stack).
KMS_MODULES = ("assets_bucket", "iam", "etcd", "controllers")
IMAGE_MODULES = ("etcd", "controllers")


@dataclass(frozen=True)
class Server:
    pid: int
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(server: Server) -> bool:
    try:
        os.kill(server.pid, 0)
    except OSError:
        return False
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=1):
            return True
    except OSError:
        return False


#: moto applies a bucket policy's Deny without reading its Condition, so the assets bucket's
#: TLS-only policy would refuse every request over the emulator's plain HTTP. The scratch
#: copy keeps a policy of the same shape, aimed at keys nothing uses.
TLS_POLICY_OVERRIDE = """\
resource "aws_s3_bucket_policy" "this" {
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyRequestsWithoutTLS"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = ["${aws_s3_bucket.this.arn}/moto-ignores-conditions/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
}
"""


#: What moto does not give back as it was written, so that every later plan would try to
#: change it (and moto then refuses the change): resource type -> attributes the scratch
#: copy's modules ignore. The workspace's modules are never touched.
EMULATOR_DRIFT: dict[str, tuple[str, ...]] = {
    # moto drops the description of a rule that references a security group; updating it
    # sends ModifySecurityGroupRules, which moto rejects for all-protocol rules.
    "aws_vpc_security_group_ingress_rule": ("description",),
    "aws_vpc_security_group_egress_rule": ("description",),
    # moto adds an entry of its own to a launch template's tag_specifications.
    "aws_launch_template": ("tag_specifications",),
    # moto answers a private hosted zone as public, without its VPC.
    "aws_route53_zone": ("vpc",),
    # moto does not give back a lifecycle hook's unset notification target and role as unset.
    "aws_autoscaling_lifecycle_hook": ("notification_target_arn", "role_arn"),
}


def ignore_drift(text: str, drift: dict[str, tuple[str, ...]] = EMULATOR_DRIFT) -> str:
    """``text`` with ``lifecycle { ignore_changes = [...] }`` added to every resource whose
    type is in ``drift`` and that has no lifecycle block of its own."""
    out, i = [], 0
    pattern = re.compile(r'^resource "([a-z0-9_]+)" "[^"]+" \{$', re.M)
    while (m := pattern.search(text, i)) is not None:
        depth, j = 0, m.end() - 1
        while j < len(text):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                break
            j += 1
        body = text[m.start():j]
        out.append(text[i:m.start()])
        attrs = drift.get(m.group(1))
        if attrs and "lifecycle {" not in body:
            body += ("\n  # sandbox: the emulator does not return these as written\n"
                     f"  lifecycle {{\n    ignore_changes = [{', '.join(attrs)}]\n  }}\n")
        out.append(body)
        i = j
    out.append(text[i:])
    return "".join(out)


class Sandbox:
    """One cluster directory's sandbox: its emulator process and its scratch workspace."""

    def __init__(self, cluster_dir: Path):
        self.cluster_dir = cluster_dir
        self.root = cluster_dir / SANDBOX_DIR
        self.started_here = False
        self.server: Server | None = None

    # -- the emulator ------------------------------------------------------------------

    def _recorded(self) -> Server | None:
        try:
            data = json.loads((self.root / SERVER_FILE).read_text())
            return Server(int(data["pid"]), int(data["port"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def start(self) -> Server:
        """Reuse this cluster's running emulator, or start one."""
        try:
            import moto.server  # noqa: F401
        except ImportError:
            raise UsageError("--sandbox needs the AWS emulator moto: pip install "
                             "'kopsgen[sandbox]' (or 'moto[server]')") from None
        current = self._recorded()
        if current is not None and _alive(current):
            self.server = current
            return current
        self.root.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        env = dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true", **CREDENTIALS)
        log = open(self.root / "moto.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            [sys.executable, "-m", "kopsgen.emulator", str(port)],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,  # outlives this command; Ctrl-C here does not stop it
        )
        log.close()
        server = Server(proc.pid, port)
        deadline = time.monotonic() + 30
        while not _alive(server):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise KopsgenError(f"the sandbox emulator did not start (see {self.root}/moto.log)",
                                   exit_code=ExitCode.AWS_CHECK_FAILED)
            time.sleep(0.1)
        (self.root / SERVER_FILE).write_text(json.dumps({"pid": proc.pid, "port": port}) + "\n")
        self.server, self.started_here = server, True
        return server

    def stop(self) -> None:
        server = self.server or self._recorded()
        if server is not None and _alive(server):
            with contextlib.suppress(OSError):
                os.kill(server.pid, signal.SIGTERM)
            for _ in range(50):
                if not _alive(server):
                    break
                time.sleep(0.1)
        (self.root / SERVER_FILE).unlink(missing_ok=True)
        self.server = None

    # -- the scratch workspace ---------------------------------------------------------

    @property
    def workdir(self) -> Path:
        return self.root / "terraform"

    def prepare(self, spec: Spec) -> Path:
        """Copy terraform/ and userdata/ to the scratch dir (keeping its state and
        .terraform/), seed the emulator, write the override; returns the terraform dir."""
        assert self.server is not None
        scratch = self.workdir
        scratch.mkdir(parents=True, exist_ok=True)
        keep = {"terraform.tfstate", "terraform.tfstate.backup", ".terraform",
                ".terraform.lock.hcl", "kopsgen.tfplan"}
        for child in scratch.iterdir():
            if child.name not in keep:
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        for child in (self.cluster_dir / "terraform").iterdir():
            if child.name in keep or child.name.endswith(".tfplan"):
                continue
            target = scratch / child.name
            shutil.copytree(child, target) if child.is_dir() else shutil.copy2(child, target)
        for tf_file in (scratch / "modules").rglob("*.tf"):
            text = tf_file.read_text()
            patched = ignore_drift(text)
            if patched != text:
                tf_file.write_text(patched)
        if (scratch / "modules" / "assets_bucket").is_dir():
            (scratch / "modules" / "assets_bucket" / "sandbox_override.tf").write_text(
                TLS_POLICY_OVERRIDE)
        userdata = self.root / "userdata"
        if userdata.exists():
            shutil.rmtree(userdata)
        shutil.copytree(self.cluster_dir / "userdata", userdata)
        seeded = self.seed(spec)
        self._write_override(spec, seeded)
        return scratch

    def client(self, service: str, region: str):
        import boto3

        assert self.server is not None
        return boto3.client(service, endpoint_url=self.server.endpoint, region_name=region,
                            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])

    def seed(self, spec: Spec) -> dict[str, str]:
        """Create in the emulator what cluster.yaml says already exists; idempotent."""
        state_file = self.root / "seeded.json"
        try:
            seeded = json.loads(state_file.read_text())
        except (OSError, ValueError):
            seeded = {}
        if seeded.get("server_pid") != self.server.pid:
            seeded = {"server_pid": self.server.pid}  # a new emulator starts empty
        ec2 = self.client("ec2", spec.region)
        if "ami" not in seeded:
            images = ec2.describe_images(Owners=["amazon"])["Images"] or ec2.describe_images()["Images"]
            seeded["ami"] = sorted(i["ImageId"] for i in images)[0]
        if spec.key_name and "key_name" not in seeded:
            ec2.create_key_pair(KeyName=spec.key_name)
            seeded["key_name"] = spec.key_name
        if spec.create_record_set and "zone_id" not in seeded:
            parent = spec.external_dns_name.split(".", 1)[1]
            zone = self.client("route53", spec.region).create_hosted_zone(
                Name=parent, CallerReference=f"kopsgen-sandbox-{parent}")
            seeded["zone_id"] = zone["HostedZone"]["Id"].rsplit("/", 1)[-1]
        if spec.kms_key_arn and "kms_key_arn" not in seeded:
            key = self.client("kms", spec.region).create_key(Description="kopsgen sandbox key")
            seeded["kms_key_arn"] = key["KeyMetadata"]["Arn"]
        if spec.s3 is not None and "bucket" not in seeded:
            s3 = self.client("s3", spec.region)
            kwargs = {} if spec.region == "us-east-1" else {
                "CreateBucketConfiguration": {"LocationConstraint": spec.region}}
            s3.create_bucket(Bucket=spec.s3.bucket, **kwargs)
            seeded["bucket"] = spec.s3.bucket
        state_file.write_text(json.dumps(seeded, indent=2, sort_keys=True) + "\n")
        return seeded

    def _write_override(self, spec: Spec, seeded: dict[str, str]) -> None:
        assert self.server is not None
        # A few retries: moto's development web server drops kept-alive connections now and
        # then ("use of closed network connection"); unsupported calls still fail fast.
        endpoints = "\n".join(f'    {s} = "{self.server.endpoint}"' for s in SERVICES
                              if s != "resourcegroupstaggingapi")
        parts = [
            "# Written by kopsgen --sandbox: the AWS emulator on loopback, never a real account.",
            'terraform {\n  backend "local" {\n    path = "terraform.tfstate"\n  }\n}',
            'provider "aws" {\n'
            f'  access_key                  = "{CREDENTIALS["AWS_ACCESS_KEY_ID"]}"\n'
            f'  secret_key                  = "{CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}"\n'
            "  skip_credentials_validation = true\n"
            "  skip_metadata_api_check     = true\n"
            "  skip_requesting_account_id  = false\n"
            "  max_retries                 = 3\n"
            "  s3_use_path_style           = true\n"
            f"  endpoints {{\n{endpoints}\n  }}\n}}",
        ]
        per_module: dict[str, dict[str, str]] = {}
        if spec.ami_id:
            for m in IMAGE_MODULES + tuple(naming.pool_module(p) for p in spec.node_pools):
                per_module.setdefault(m, {})["ami_id"] = seeded["ami"]
        else:
            (self.workdir / "sandbox_ami").mkdir(exist_ok=True)
            (self.workdir / "sandbox_ami" / "main.tf").write_text(
                f'output "id" {{\n  value = "{seeded["ami"]}"\n}}\n')
            parts.append('module "flatcar_ami" {\n  source = "./sandbox_ami"\n}')
        if spec.kms_key_arn:
            for m in KMS_MODULES + tuple(naming.pool_module(p) for p in spec.node_pools):
                if m == "assets_bucket" and spec.s3 is not None:
                    continue
                per_module.setdefault(m, {})["kms_key_arn"] = seeded["kms_key_arn"]
        if spec.create_record_set:
            per_module.setdefault("dns", {})["hosted_zone_id"] = seeded["zone_id"]
        for module, attrs in sorted(per_module.items()):
            body = "\n".join(f'  {k} = "{v}"' for k, v in sorted(attrs.items()))
            parts.append(f'module "{module}" {{\n{body}\n}}')
        (self.workdir / "sandbox_override.tf").write_text("\n\n".join(parts) + "\n")

    def env(self) -> dict[str, str]:
        """Environment for terraform and boto3 in the sandbox."""
        assert self.server is not None
        env = dict(os.environ, **CREDENTIALS)
        env.pop("AWS_PROFILE", None)
        env["KOPSGEN_AWS_ENDPOINT_URL"] = self.server.endpoint
        return env

    def use_credentials(self) -> None:
        """Give this process the emulator's credentials (boto3 reads them from its
        environment)."""
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ[key] = CREDENTIALS[key]
        os.environ.pop("AWS_SESSION_TOKEN", None)

    def kms_key_arn(self) -> str | None:
        try:
            return json.loads((self.root / "seeded.json").read_text()).get("kms_key_arn")
        except (OSError, ValueError):
            return None
