"""The lifecycle flows called as plain functions, without typer: what they ask, in which
order they run terraform, what they print and return.

The session is a real :class:`~kopsgen.flows.session.Session` over a rendered cluster
directory whose terraform is a recording stand-in (``RecordingTerraform``) and whose AWS is
a stand-in S3 (the flows' S3 and STS calls only); every real-terraform and real-emulator
path is in tests/cli/test_cli_lifecycle.py and tests/integration/.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from kopsgen import core
from kopsgen.errors import AwsCheckError, ExitCode, KopsgenError, UsageError
from kopsgen.flows import apply as flows_apply
from kopsgen.flows import destroy as flows_destroy
from kopsgen.flows import plan as flows_plan
from kopsgen.flows import status as flows_status
from kopsgen.flows.credentials import push_credentials
from kopsgen.flows.session import PLAN_FILE, Session

REPO = Path(__file__).resolve().parents[2]

CHANGES = {"resource_changes": [
    {"address": "module.network.aws_vpc.this", "module_address": "module.network",
     "type": "aws_vpc", "change": {"actions": ["create"]}},
]}
OUTPUTS = {"assets_location": {"value": "s3://bucket/prefix"},
           "kms_key_arn": {"value": "arn:aws:kms:us-east-1:123456789012:key/k"}}


class RecordingTerraform:
    """Answers as terraform would for a workspace with ``state`` and a plan of ``plan_doc``;
    records every call in ``calls``."""

    def __init__(self, state: list[str], plan_doc: dict, outputs: dict):
        self.state, self.plan_doc, self.outputs = list(state), plan_doc, outputs
        self.calls: list[tuple] = []
        self.out = None

    def state_list(self):
        return list(self.state)

    def plan(self, path, *, targets=(), destroy=False):
        self.calls.append(("plan", tuple(targets), destroy))

    def show_json(self, path=None):
        return self.plan_doc if path is not None else {"values": {"root_module": {}}}

    def apply(self, path):
        self.calls.append(("apply", Path(path).name))

    def output_json(self):
        return self.outputs if self.state else {}

    def state_rm(self, addresses):
        self.calls.append(("state_rm", tuple(addresses)))

    def destroy(self):
        self.calls.append(("destroy",))
        self.state = []


class StandInS3:
    """head_object: 404 for a key not put yet; put_object records the key."""

    def __init__(self):
        self.put: dict[str, str] = {}

    def head_object(self, Bucket, Key):  # noqa: N803 - boto3's names
        if Key not in self.put:
            raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")
        return {"Metadata": {"sha256": self.put[Key]}}

    def put_object(self, Bucket, Key, Body, ServerSideEncryption, SSEKMSKeyId, Metadata):  # noqa: N803
        self.put[Key] = Metadata["sha256"]


class StandInClients:
    def __init__(self):
        self.s3 = StandInS3()

    def client(self, service):
        assert service == "s3", f"the flow asked for {service}, which this test does not stand in"
        return self.s3


@pytest.fixture
def cluster(tmp_path) -> Path:
    shutil.copy(REPO / "examples" / "kubeops" / "cluster.yaml", tmp_path / "cluster.yaml")
    core.write(tmp_path, core.render(tmp_path))
    return tmp_path


def session_for(cluster: Path, *, state=(), plan_doc=CHANGES, outputs=OUTPUTS):
    """A real Session over ``cluster`` without its constructor's terraform init and
    emulator: the flows run their own code against the recording terraform."""
    session = Session.__new__(Session)
    session.cluster_dir = cluster
    session.said = []
    session.say = session.said.append
    session.spec = core.render(cluster).loaded.spec
    session.warnings = []
    session.s3_override = None
    session.sandbox = None
    session.stop_sandbox = None
    session.workdir = cluster / "terraform"
    session.env = {}
    session.tf = RecordingTerraform(list(state), plan_doc, outputs)
    stand_in = StandInClients()
    session.clients = lambda: stand_in
    session.s3_stand_in = stand_in.s3
    return session


def test_update_asks_before_it_applies_and_a_no_applies_nothing(cluster):
    session = session_for(cluster, state=["module.network.aws_vpc.this"])
    asked, printed = [], []

    def decline(question):
        asked.append(question)
        raise KopsgenError("declined")

    with pytest.raises(KopsgenError, match="declined"):
        flows_apply.update(session, confirm=decline, out=printed.append)
    assert asked == ["Update cluster k8s?"]
    assert [c[0] for c in session.tf.calls] == ["plan"]  # planned, never applied
    assert printed[0].startswith("Plan: 1 to add, 0 to change, 0 to destroy")


def test_update_applies_the_plan_it_showed_then_uploads_the_credentials(cluster):
    session = session_for(cluster, state=["module.network.aws_vpc.this"])
    printed = []
    outputs = flows_apply.update(session, confirm=lambda q: None, out=printed.append)
    assert session.tf.calls == [("plan", (), False), ("apply", PLAN_FILE)]
    assert outputs["assets_location"] == "s3://bucket/prefix"
    uploaded = sorted(session.s3_stand_in.put)
    assert uploaded and all(k.startswith("prefix/credentials/") for k in uploaded)
    # Before the apply (replaced nodes fetch them at boot), then nothing new after it.
    assert f"credentials: {len(uploaded)} file(s) uploaded before the apply" in session.said
    assert session.said[-1] == "credentials: unchanged in S3"


def test_a_plan_without_changes_neither_asks_nor_applies(cluster):
    session = session_for(cluster, state=["module.network.aws_vpc.this"],
                          plan_doc={"resource_changes": []})
    printed = []

    def never(question):
        raise AssertionError(f"asked {question!r} for a plan without changes")

    flows_apply.update(session, confirm=never, out=printed.append)
    assert [c[0] for c in session.tf.calls] == ["plan"]
    assert printed[-1] == "No changes: the infrastructure matches the workspace."


def test_update_refuses_a_cluster_without_state(cluster):
    session = session_for(cluster)
    with pytest.raises(UsageError, match="has no state here; create it with `kopsgen up`"):
        flows_apply.update(session, confirm=lambda q: None, out=print)
    assert session.tf.calls == []


def test_update_of_one_pool_targets_its_module_and_refuses_an_unknown_pool(cluster):
    session = session_for(cluster, state=["module.network.aws_vpc.this"])
    pool = session.spec.node_pools[0].name
    flows_apply.update(session, confirm=lambda q: None, out=lambda line: None, pool=pool)
    (plan_call, *_) = session.tf.calls
    assert plan_call[1] and plan_call[1][0].startswith("module.pool_")
    with pytest.raises(UsageError, match=r"--pool: no node pool named 'nope' \(pools: "):
        flows_apply.update(session, confirm=lambda q: None, out=print, pool="nope")


def test_boot_needs_the_sandbox():
    with pytest.raises(UsageError, match="use it with --sandbox"):
        flows_apply.check_boot(True, False)
    flows_apply.check_boot(True, True)
    flows_apply.check_boot(False, False)


def test_the_up_summary_names_the_cluster_and_its_kubeconfig(cluster):
    session = session_for(cluster)
    lines = flows_apply.up_summary(session, {"load_balancer_name": "lb",
                                             "load_balancer_dns_name": "lb.example"})
    assert lines[0] == "Cluster name:   k8s"
    assert lines[2] == "Load balancer:  lb (lb.example)"
    assert lines[3] == f"Kubeconfig:     {cluster / 'kubeconfig'}"


def test_status_of_a_cluster_without_state_says_how_to_create_it(cluster):
    with pytest.raises(UsageError, match="has no state here"):
        flows_status.status(session_for(cluster))


def test_destroy_keeps_the_emulator_running_when_the_destroy_fails(cluster, monkeypatch):
    session = session_for(cluster, state=["module.network.aws_vpc.this"])
    session.sandbox = type("NoBoot", (), {"root": cluster / ".no-sandbox"})()

    def fail(session, **kw):
        raise KopsgenError("terraform destroy failed")

    monkeypatch.setattr(flows_destroy, "destroy_cluster", fail)
    with pytest.raises(KopsgenError):
        flows_destroy.destroy(session, delete_etcd_data=False, confirm=lambda q: None,
                              out=print)
    assert session.stop_sandbox is False  # the cluster may still be there
    monkeypatch.setattr(flows_destroy, "destroy_cluster", lambda session, **kw: 0)
    flows_destroy.destroy(session, delete_etcd_data=False, confirm=lambda q: None, out=print)
    assert session.stop_sandbox is True  # gone: the emulator may stop


def test_plan_flow_returns_the_summary_and_the_replacement_notes(cluster, monkeypatch):
    session = session_for(cluster)
    monkeypatch.setattr(Session, "preflight", lambda self, **kw: self.say("pre-flight (stand-in)"))
    monkeypatch.setattr(flows_plan, "kept_etcd_data_notes", lambda s: ["kept data (stand-in)"])
    result = flows_plan.plan(session)
    assert (result.summary.add, result.summary.destroy) == (1, 0)
    assert result.notes == ["no instance will be replaced"]
    assert result.path == cluster / "terraform" / PLAN_FILE
    assert session.said == ["pre-flight (stand-in)", "note: kept data (stand-in)",
                           "terraform plan ..."]  # said before the plan's silence


class OtherAccountClients(StandInClients):
    """Credentials of account 111111111111; anything but STS and S3 is a test failure."""

    def client(self, service):
        if service == "sts":
            return self
        return super().client(service)

    def get_caller_identity(self):
        return {"Account": "111111111111", "Arn": "arn:aws:iam::111111111111:user/me"}


@pytest.mark.parametrize("command", ["update", "destroy", "credentials push"])
def test_expected_account_is_checked_before_anything_changes(cluster, command):
    """Before: only validate, plan and up took --expected-account; update, destroy and
    credentials push changed whatever account the credentials were for."""
    session = session_for(cluster, state=["module.network.aws_vpc.this"])
    stand_in = OtherAccountClients()
    session.clients = lambda: stand_in
    run = {
        "update": lambda: flows_apply.update(session, confirm=lambda q: None, out=print,
                                             expected_account="123456789012"),
        "destroy": lambda: flows_destroy.destroy(session, delete_etcd_data=False,
                                                 confirm=lambda q: None, out=print,
                                                 expected_account="123456789012"),
        "credentials push": lambda: push_credentials(session,
                                                     expected_account="123456789012"),
    }[command]
    with pytest.raises(AwsCheckError) as err:
        run()
    assert err.value.exit_code == ExitCode.AWS_CHECK_FAILED
    assert "not the expected account 123456789012" in "\n".join(err.value.lines())
    assert session.tf.calls == [] and stand_in.s3.put == {}
    # The right account: the command goes on.
    assert push_credentials(session, expected_account="111111111111")


def test_the_up_summary_in_the_sandbox_says_what_shows_the_cluster_there(cluster):
    """Before: `kubectl --kubeconfig kubeconfig get nodes`, which cannot work against the
    emulator (no machine runs, no API answers)."""
    session = session_for(cluster)
    outputs = {"load_balancer_name": "lb", "load_balancer_dns_name": "lb.example"}
    assert flows_apply.up_summary(session, outputs)[-1].endswith("get nodes")
    session.sandbox = object()
    lines = flows_apply.up_summary(session, outputs)
    assert not any("kubectl" in line for line in lines)
    assert lines[4].startswith("Next:           kopsgen status --sandbox")
    assert "kopsgen up --sandbox --boot" in lines[5]
    booted = flows_apply.up_summary(session, outputs, boot=True)
    assert booted[-1].startswith("Next:           kopsgen status --sandbox")
    assert not any("--boot" in line for line in booted)


def test_a_session_says_the_spec_warnings_once_and_before_anything_else(cluster, monkeypatch):
    """Before the render's line and terraform init's (kopsgen/flows/session.py), with a
    terraform that only records (tests/fakes/terraform)."""
    monkeypatch.setenv("KOPSGEN_TERRAFORM", str(REPO / "tests" / "fakes" / "terraform"))
    monkeypatch.setenv("FAKE_TF_RECORD", str(cluster / "tf.jsonl"))
    events = []
    Session(cluster, say=lambda line: events.append(("say", line)),
            warn=lambda warnings: events.append(("warn", len(warnings))))
    assert events[0][0] == "warn" and events[0][1] > 0
    assert [e for e in events if e[0] == "warn"] == [events[0]]
    assert ("say", "terraform init ...") in events[1:]
