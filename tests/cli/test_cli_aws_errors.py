"""Every command that talks to AWS turns a failed AWS call into the AWS-check error: exit 5,
one line that says what was asked and what AWS (or the network) answered, no traceback
(issue 11, item 7: `status` and `destroy` without credentials ended in exit 70).

The calls are made by the real boto3, in three ways they fail for users: no credentials
anywhere (no environment, empty config files, no instance metadata) -- NoCredentialsError;
an endpoint that refuses connections -- EndpointConnectionError; and the AWS emulator
with authentication enforced (moto's INITIAL_NO_AUTH_ACTION_COUNT=0), which answers
unknown keys as AWS does -- a ClientError (InvalidClientTokenId, 403).

`status`, `update`, `destroy` and `credentials push` only reach AWS for a cluster that
exists; the workspace gets a Terraform state with the outputs they read (made by the real
terraform from a configuration with those outputs, which must all be outputs of the
rendered workspace) and one resource.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from pathlib import Path

import helpers
import pytest

from kopsgen.errors import ExitCode
from kopsgen.flows import etcd_data, readiness
from kopsgen.terraform import Terraform

pytestmark = pytest.mark.slow

COMMANDS = [
    ("status",),
    ("destroy", "--yes"),
    ("credentials", "push"),
    ("validate", "--aws"),
    ("plan",),
    ("up", "--yes"),
    ("update", "--yes"),
]
#: What a created cluster's state holds for these commands (names checked against the
#: rendered terraform/outputs.tf).
OUTPUTS = {
    "autoscaling_group_names": {"controller": "k8s-controller", "nodepool1": "k8s-nodepool1"},
    "assets_location": "s3://kopsgen-k8s-assets/k8s",
    "kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/0000-example",
    "api_endpoint": "https://k8s.kubeops.net",
}
AWS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
           "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
           "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
           "KOPSGEN_AWS_ENDPOINT_URL")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Path:
    helpers.require_tool("terraform")
    base = tmp_path_factory.mktemp("aws-errors")
    tf_env = helpers.terraform_env(base)
    workdir = helpers.render_example("kubeops", base / "cluster")
    declared = set(re.findall(r'^output "([^"]+)"', (workdir / "outputs.tf").read_text(), re.M))
    assert set(OUTPUTS) <= declared, set(OUTPUTS) - declared

    made = base / "made"
    made.mkdir()
    (made / "main.tf").write_text('resource "terraform_data" "cluster" {}\n' + "".join(
        f'output "{name}" {{\n  value = jsondecode({json.dumps(json.dumps(value))})\n}}\n'
        for name, value in OUTPUTS.items()))
    for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        subprocess.run(["terraform", *args], cwd=made, env=tf_env, check=True,
                       capture_output=True)
    (workdir / "terraform.tfstate").write_bytes((made / "terraform.tfstate").read_bytes())
    Terraform(workdir, env=tf_env).init()
    return base / "cluster"


@pytest.fixture(scope="module")
def strict_emulator(tmp_path_factory):
    """moto on loopback that checks every request's credentials, as AWS does."""
    with helpers.emulator(tmp_path_factory.mktemp("moto") / "moto.log",
                          INITIAL_NO_AUTH_ACTION_COUNT="0") as endpoint:
        yield endpoint


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: connections refused


@pytest.fixture(params=["no-credentials", "connection-refused", "invalid-credentials"])
def failing_aws(request, monkeypatch, tmp_path):
    """The environment of one way AWS calls fail; returns what the error line must say."""
    for name in AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for key, value in helpers.terraform_env(tmp_path).items():
        if key.startswith(("TF_", "CHECKPOINT")):
            monkeypatch.setenv(key, value)
    if request.param == "no-credentials":
        return r"Unable to locate credentials \(configure AWS_PROFILE"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-key")
    if request.param == "connection-refused":
        monkeypatch.setenv("KOPSGEN_AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
        return r"cannot reach http://127\.0\.0\.1:\d+/\S* \(check the network"
    monkeypatch.setenv("KOPSGEN_AWS_ENDPOINT_URL", request.getfixturevalue("strict_emulator"))
    # STS and Auto Scaling say InvalidClientTokenId, EC2 AuthFailure, S3's HEAD a bare 403.
    return r"(InvalidClientTokenId|AuthFailure): .* \(configure AWS_PROFILE|: 403: Forbidden"


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_failed_aws_call_is_one_line_and_exit_5(cli, cluster, failing_aws, command):
    tf_env = dict(os.environ)
    before = Terraform(cluster / "terraform", env=tf_env).state_list()

    r = cli(*command, "-C", str(cluster))

    assert r.code == ExitCode.AWS_CHECK_FAILED, r.out + r.err
    assert "Traceback" not in r.err and "internal error" not in r.err, r.err
    errors = [line for line in r.err.splitlines() if line.startswith("error:")]
    said = [line for line in errors if re.search(failing_aws, line)]
    assert len(said) == 1, r.err
    # The AWS failure, and for the pre-flight commands the summary after it; nothing of
    # terraform's (it never got to run against AWS).
    assert len(errors) <= 2 and not re.search(r"^\s*Error:", r.out + r.err, re.M), r.err
    assert said[0].startswith(("error: cannot ", "error: aws: AWS credentials: ")), said[0]
    assert Terraform(cluster / "terraform", env=tf_env).state_list() == before


class FlowSession:
    """What the lifecycle flows use of a Session -- the spec, the workspace's terraform and
    AWS clients -- made of the real parts, as Session makes them outside the sandbox."""

    def __init__(self, cluster: Path):
        from kopsgen.spec import load_spec

        self.cluster_dir = cluster
        self.spec = load_spec(cluster / "cluster.yaml").spec
        self.tf = Terraform(cluster / "terraform", env=dict(os.environ))
        self.said: list[str] = []

    def say(self, line: str) -> None:
        self.said.append(line)

    def clients(self):
        from kopsgen import core
        from kopsgen.aws import make_session

        return make_session(self.spec.region,
                            endpoint_url=os.environ.get(core.ENDPOINT_ENV) or None)


FLOWS = {
    "adopt kept etcd data": lambda s: etcd_data.adopt_kept_etcd_data(s),
    "expected nodes": lambda s: readiness.expected_nodes(s, OUTPUTS),
    "delete leaving volumes": lambda s: etcd_data.delete_leaving_volumes(
        s, [('module.etcd.aws_ebs_volume.data["etcd2"]', "vol-0123456789abcdef0")]),
    "schedule key deletion": lambda s: etcd_data.schedule_key_deletion(
        s, ("0000-example", "alias/k8s")),
    "tagged resources": lambda s: __import__("kopsgen.aws").aws.tagged_resources(
        s.clients(), s.spec.cluster_name),
}


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_the_flows_behind_the_commands_fail_the_same_way(cluster, failing_aws, flow):
    from kopsgen.errors import AwsCheckError

    with pytest.raises(AwsCheckError) as caught:
        FLOWS[flow](FlowSession(cluster))
    (line,) = caught.value.lines()
    assert re.search(failing_aws, line) and line.startswith("cannot "), line

