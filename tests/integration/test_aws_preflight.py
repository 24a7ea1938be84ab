"""kopsgen.aws against a real moto server on loopback: pre-flight checks and leftovers.

Each test starts from an empty emulator, creates what its cluster.yaml refers to, and checks
the problems by field: every expected one is there, and nothing else is.
"""

from __future__ import annotations

import copy
import json
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helpers
import pytest
import yaml

from kopsgen.aws import AwsClients, make_session, preflight, tagged_resources
from kopsgen.errors import AwsCheckError, Problem
from kopsgen.spec import load_spec_text
from kopsgen.spec.model import Spec

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = yaml.safe_load((REPO / "examples" / "kubeops" / "cluster.yaml").read_text())
ACCOUNT = "123456789012"  # moto's default account
TAG = "kubernetes.io/cluster/k8s"
MOTO_AMI = "ami-760aaa0f"  # in moto's default image catalogue
DELETE = object()


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    helpers.require_module("moto.server")
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as mp:
        # Dummy credentials only, and nothing from the developer's own AWS configuration.
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
            mp.delenv(name, raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


def moto_api(url: str, path: str, body: bytes = b"") -> bytes:
    # Not form-encoded: Flask would parse a form body away from request.data, which moto reads.
    request = urllib.request.Request(f"{url}/moto-api/{path}", data=body, method="POST",
                                     headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return resp.read()


@pytest.fixture(scope="session")
def shared_clients(moto_url: str) -> AwsClients:
    # One set of clients for the session: building a client loads its service model (slow).
    return make_session("us-east-1", endpoint_url=moto_url)


@pytest.fixture
def aws(moto_url: str, shared_clients: AwsClients) -> AwsClients:
    """Clients for us-east-1 on an emulator emptied for this test."""
    moto_api(moto_url, "reset")
    return shared_clients


def spec_of(keys: dict[str, Any] | None = None, /, **changes: Any) -> Spec:
    """The kubeops example with top-level keys changed (``DELETE`` removes one)."""
    doc = copy.deepcopy(EXAMPLE)
    for key, value in {**(keys or {}), **changes}.items():
        if value is DELETE:
            doc.pop(key, None)
        else:
            doc[key] = value
    return load_spec_text(yaml.safe_dump(doc)).spec


def by_field(problems: list[Problem]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in problems:
        assert p.file == "aws" and "\n" not in p.message, p
        out.setdefault(p.field, []).append(p.message)
    return out


def assert_problems(problems: list[Problem], expected: dict[str, str]) -> None:
    """Exactly the fields of ``expected`` have problems, each with its text in the message."""
    found = by_field(problems)
    assert sorted(found) == sorted(expected), "\n".join(str(p) for p in problems)
    for fld, text in expected.items():
        assert any(text in m for m in found[fld]), f"{fld}: {text!r} not in {found[fld]}"


# --- building the account ---------------------------------------------------------------------

def hosted_zone(aws: AwsClients, name: str = "kubeops.net") -> str:
    zone = aws.client("route53").create_hosted_zone(Name=name, CallerReference=name)["HostedZone"]
    return zone["Id"].removeprefix("/hostedzone/")


def kms_key(aws: AwsClients, region: str = "us-east-1", **kwargs: Any) -> str:
    return aws.client("kms", region).create_key(**kwargs)["KeyMetadata"]["Arn"]


def key_id(arn: str) -> str:
    """The ID in a key ARN (moto's disable_key and schedule_key_deletion accept no ARN)."""
    return arn.rsplit("/", 1)[1]


def bucket(aws: AwsClients, name: str, region: str = "us-east-1") -> None:
    extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    aws.client("s3", region).create_bucket(Bucket=name, **extra)


@pytest.fixture
def made(aws: AwsClients) -> dict[str, str]:
    """Everything the example refers to, created; the cluster.yaml keys that point at it."""
    aws.client("ec2").create_key_pair(KeyName="kubeops-admin")
    bucket(aws, "kubeops-assets")
    return {"hostedZoneId": hosted_zone(aws), "kmsKeyArn": kms_key(aws),
            "s3URI": "s3://kubeops-assets/clusters"}


def tags(key: str = TAG, resource: str = "instance") -> list[dict[str, Any]]:
    return [{"ResourceType": resource, "Tags": [{"Key": key, "Value": "owned"}]}]


def load_balancer(aws: AwsClients, name: str, tagged: bool) -> dict[str, Any]:
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.50.{i}.0/24", AvailabilityZone=f"us-east-1{z}")
               ["Subnet"]["SubnetId"] for i, z in enumerate("ab")]
    lb_tags = [{"Key": TAG, "Value": "owned"}] if tagged else [{"Key": "team", "Value": "web"}]
    return aws.client("elbv2").create_load_balancer(Name=name, Subnets=subnets, Tags=lb_tags)[
        "LoadBalancers"][0]


def record(aws: AwsClients, zone: str, rtype: str, **body: Any) -> None:
    rrset = {"Name": "k8s.kubeops.net", "Type": rtype, **body}
    aws.client("route53").change_resource_record_sets(
        HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": rrset}]})


# --- pre-flight -------------------------------------------------------------------------------

def test_importing_the_module_does_not_import_boto3() -> None:
    code = ("import sys, kopsgen.aws, kopsgen.cli\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore'))))")
    out = subprocess.run([sys.executable, "-c", "import json\n" + code], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout
    assert json.loads(out) == []


def test_everything_in_place_has_no_problems(aws: AwsClients, made: dict[str, str]) -> None:
    spec = spec_of(made)
    assert preflight(spec, aws, expected_account=ACCOUNT) == []


def test_many_problems_are_reported_together(aws: AwsClients) -> None:
    aws.client("ec2").create_key_pair(KeyName="kubeops-admin")
    key = kms_key(aws)
    aws.client("kms").disable_key(KeyId=key_id(key))
    subnets = EXAMPLE["subnets"] + [{"name": "Extra", "private": False, "availabilityZone": "us-east-1g",
                                     "instanceCIDR": "10.0.30.0/24"}]
    spec = spec_of(
        keyName="kubeops-adnim",
        hostedZoneId=hosted_zone(aws, "example.org"),
        kmsKeyArn=key,
        s3URI="s3://no-such-bucket/clusters",
        controllerInstanceType="t3.medium",  # moto offers it in us-east-1c, not in us-east-1e
        workerInstanceType="zz9.large",  # well-formed, offered nowhere
        vpcId="vpc-0123456789abcdef0",
        internetGatewayId="igw-0123456789abcdef0",
        routeTableId="rtb-0123456789abcdef0",
        subnets=subnets,
    )
    problems = preflight(spec, aws)
    assert_problems(problems, {
        "keyName": "no EC2 key pair named 'kubeops-adnim' in us-east-1; did you mean 'kubeops-admin'?",
        "subnets[2].availabilityZone": "us-east-1g is not an availability zone of us-east-1",
        "controllerInstanceType": "t3.medium is not offered in us-east-1e",
        "worker.nodePools[0].instanceType": "zz9.large is not offered in us-east-1",
        "externalDNSName": "k8s.kubeops.net is not inside hosted zone",
        "kmsKeyArn": "the key is Disabled, not Enabled",
        "s3URI": "bucket no-such-bucket does not exist",
        "vpcId": "no VPC vpc-0123456789abcdef0 in us-east-1",
        "internetGatewayId": "no internet gateway igw-0123456789abcdef0",
        "routeTableId": "no route table rtb-0123456789abcdef0",
    })
    # The missing zone is reported on the subnet only, not again for every instance type.
    assert not any("us-east-1g" in p.message for p in problems if "InstanceType" in p.field)
    assert problems == sorted(problems)


@pytest.mark.parametrize("case", ["missing", "disabled", "pending-deletion", "asymmetric", "other-region"])
def test_kms_key(aws: AwsClients, made: dict[str, str], case: str) -> None:
    kms = aws.client("kms")
    if case == "missing":
        arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0b7a6a0e-5f4e-4c53-9c1e-000000000000"
        expected = "no KMS key"
    elif case == "other-region":
        arn = kms_key(aws, "eu-west-1")
        expected = "the key is in eu-west-1, not in the cluster's region us-east-1"
    elif case == "asymmetric":
        arn = kms_key(aws, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
        expected = "S3 and EBS encryption need a symmetric ENCRYPT_DECRYPT key"
    else:
        arn = kms_key(aws)
        if case == "disabled":
            kms.disable_key(KeyId=key_id(arn))
        else:
            kms.schedule_key_deletion(KeyId=key_id(arn), PendingWindowInDays=7)
        expected = "the key is Disabled" if case == "disabled" else "the key is PendingDeletion"
    spec = spec_of(made)
    # The loader refuses an ARN naming another region; what AWS says is checked all the same.
    spec = spec.model_copy(update={"kms_key_arn": arn})
    assert_problems(preflight(spec, aws), {"kmsKeyArn": expected})


@pytest.mark.parametrize("case", ["missing-zone", "cname", "alias-to-this-cluster", "alias-elsewhere", "txt-only"])
def test_api_record(aws: AwsClients, made: dict[str, str], case: str) -> None:
    spec = spec_of(made)
    zone = spec.hosted_zone_id
    assert zone is not None
    expected: dict[str, str] = {}
    if case == "missing-zone":
        spec = spec_of(made, hostedZoneId="Z0000000000NOSUCH")
        expected = {"hostedZoneId": "no Route53 hosted zone Z0000000000NOSUCH"}
    elif case == "cname":
        record(aws, zone, "CNAME", TTL=300, ResourceRecords=[{"Value": "web.example.com"}])
        expected = {"externalDNSName": "a CNAME record for k8s.kubeops.net already exists"}
    elif case.startswith("alias"):
        lb = load_balancer(aws, "k8s-api", tagged=case == "alias-to-this-cluster")
        record(aws, zone, "A", AliasTarget={"HostedZoneId": lb["CanonicalHostedZoneId"],
                                            "DNSName": lb["DNSName"], "EvaluateTargetHealth": False})
        if case == "alias-elsewhere":
            expected = {"externalDNSName": f"alias to {lb['DNSName']}"}
    else:
        record(aws, zone, "TXT", TTL=300, ResourceRecords=[{"Value": '"owner=k8s"'}])
    assert_problems(preflight(spec, aws), expected)


@pytest.mark.parametrize("case", ["other-region", "override-missing", "override-ok"])
def test_bucket(aws: AwsClients, made: dict[str, str], case: str) -> None:
    spec = spec_of(made)
    if case == "other-region":
        bucket(aws, "assets-eu", "eu-west-1")
        spec = spec_of(made, s3URI="s3://assets-eu")
        expected = {"s3URI": "bucket assets-eu is in eu-west-1, not in the cluster's region us-east-1"}
        override = None
    elif case == "override-missing":
        override, expected = "s3://elsewhere/prefix", {"--s3-uri": "bucket elsewhere does not exist"}
    else:
        bucket(aws, "elsewhere")
        override, expected = "s3://elsewhere/prefix", {}
    assert_problems(preflight(spec, aws, s3_uri_override=override), expected)


def test_existing_network(aws: AwsClients, made: dict[str, str]) -> None:
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    other = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    # In the way: overlaps subnets[0]. Left alone: overlaps subnets[1] but is this cluster's.
    taken = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.10.128/25")["Subnet"]["SubnetId"]
    ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.20.0/24", TagSpecifications=tags(resource="subnet"))
    ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.99.0/24")
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=other)
    rtb = ec2.create_route_table(VpcId=other)["RouteTable"]["RouteTableId"]
    spec = spec_of(made, vpcId=vpc, internetGatewayId=igw, routeTableId=rtb)
    assert_problems(preflight(spec, aws), {
        "subnets[0].instanceCIDR": f"10.0.10.0/24 overlaps existing subnet {taken} (10.0.10.128/25)",
        "internetGatewayId": f"{igw} is attached to {other}, not to vpcId {vpc}",
        "routeTableId": f"{rtb} belongs to {other}, not to vpcId {vpc}",
    })
    # Attached to the right VPC, its own route table: no problems left but the overlap.
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=other)
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    spec = spec_of(made, vpcId=vpc, internetGatewayId=igw, routeTableId=rtb)
    assert_problems(preflight(spec, aws), {"subnets[0].instanceCIDR": taken})


@pytest.mark.parametrize("secondary", [False, True])
def test_vpc_cidr(aws: AwsClients, made: dict[str, str], secondary: bool) -> None:
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    if secondary:
        ec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock="10.0.0.0/16")
    spec = spec_of(made, vpcId=vpc)
    expected = {} if secondary else {"vpcCIDR": f"10.0.0.0/16 is not a CIDR block of {vpc} (10.9.0.0/16)"}
    assert_problems(preflight(spec, aws), expected)


def test_checks_ask_the_region_of_the_spec(aws: AwsClients, made: dict[str, str]) -> None:
    # The clients are for us-east-1; everything the spec names lives in us-west-2.
    aws.client("ec2", "us-west-2").create_key_pair(KeyName="west-admin")
    bucket(aws, "assets-west", "us-west-2")
    subnets = [{**s, "availabilityZone": f"us-west-2{z}"} for s, z in zip(EXAMPLE["subnets"], "ab", strict=True)]
    spec = spec_of(made, region="us-west-2", subnets=subnets, keyName="west-admin",
                   kmsKeyArn=kms_key(aws, "us-west-2"), s3URI="s3://assets-west")
    assert preflight(spec, aws) == []


def test_region_not_enabled_skips_regional_checks(aws: AwsClients, made: dict[str, str]) -> None:
    # moto lists ap-east-1 as an opt-in region this account has not opted into.
    subnets = [{**s, "availabilityZone": f"ap-east-1{z}"} for s, z in zip(EXAMPLE["subnets"], "ab", strict=True)]
    spec = spec_of(made, region="ap-east-1", subnets=subnets, kmsKeyArn="",
                   keyName="missing-but-not-checked")
    # Clients made for us-east-1: the checks ask the spec's region all the same.
    assert_problems(preflight(spec, aws), {
        "region": "ap-east-1 is not enabled for this account",
        "s3URI": "bucket kubeops-assets is in us-east-1",
    })


# --- credentials and reachability -------------------------------------------------------------

def only_problem(problems: list[Problem]) -> str:
    assert len(problems) == 1, problems
    assert problems[0].field == "" and problems[0].file == "aws"
    return str(problems[0])


def test_no_credentials(aws: AwsClients, made: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    spec = spec_of(made)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    line = only_problem(preflight(spec, make_session("us-east-1", endpoint_url=aws.endpoint_url)))
    assert line.startswith("aws: AWS credentials: Unable to locate credentials (configure AWS_PROFILE")


def test_unknown_profile(aws: AwsClients, made: dict[str, str]) -> None:
    spec = spec_of(made)
    clients = make_session("us-east-1", endpoint_url=aws.endpoint_url, profile="nosuchprofile")
    line = only_problem(preflight(spec, clients))
    assert "AWS credentials: The config profile (nosuchprofile) could not be found" in line


def test_rejected_credentials(aws: AwsClients, made: dict[str, str], moto_url: str) -> None:
    spec = spec_of(made)
    # Make moto check signatures: the dummy access key is then unknown to it.
    previous = json.loads(moto_api(moto_url, "reset-auth", b"0"))["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]
    try:
        line = only_problem(preflight(spec, make_session("us-east-1", endpoint_url=moto_url)))
    finally:
        moto_api(moto_url, "reset-auth", str(previous).encode())
    assert "AWS credentials: InvalidClientTokenId: " in line
    assert "(configure AWS_PROFILE" in line


def test_wrong_account(aws: AwsClients, made: dict[str, str]) -> None:
    spec = spec_of(made)
    line = only_problem(preflight(spec, aws, expected_account="210987654321"))
    assert f"AWS credentials are for account {ACCOUNT}" in line
    assert "not the expected account 210987654321" in line


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_unreachable_endpoint(aws: AwsClients, made: dict[str, str]) -> None:
    spec = spec_of(made)
    url = closed_port_url()
    line = only_problem(preflight(spec, make_session("us-east-1", endpoint_url=url)))
    assert line.startswith(f"aws: AWS credentials: cannot reach {url}")
    assert "(check the network" in line and "no other AWS check was run" in line


# --- leftovers --------------------------------------------------------------------------------

def test_tagged_resources(aws: AwsClients) -> None:
    assert tagged_resources(aws, "k8s") == []
    ec2 = aws.client("ec2")
    run = {"ImageId": MOTO_AMI, "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.micro"}
    live = ec2.run_instances(**run, TagSpecifications=tags())["Instances"][0]["InstanceId"]
    gone = ec2.run_instances(**run, TagSpecifications=tags())["Instances"][0]["InstanceId"]
    ec2.terminate_instances(InstanceIds=[gone])
    ec2.run_instances(**run, TagSpecifications=tags("kubernetes.io/cluster/other"))
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=10,
                               TagSpecifications=tags(resource="volume"))["VolumeId"]
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=tags(resource="vpc"))["Vpc"]["VpcId"]
    lb = load_balancer(aws, "k8s-api", tagged=True)["LoadBalancerArn"]
    load_balancer(aws, "web", tagged=False)
    key = aws.client("kms").create_key(Tags=[{"TagKey": TAG, "TagValue": "owned"}])["KeyMetadata"]
    aws.client("kms").schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)

    ec2_arn = f"arn:aws:ec2:us-east-1:{ACCOUNT}"
    assert tagged_resources(aws, "k8s") == sorted([
        f"{ec2_arn}:instance/{live}", f"{ec2_arn}:volume/{volume}", f"{ec2_arn}:vpc/{vpc}", lb,
    ])
    assert tagged_resources(aws, "nothing-here") == []


def test_tagged_resources_unreachable() -> None:
    clients = make_session("us-east-1", endpoint_url=closed_port_url())
    with pytest.raises(AwsCheckError) as err:
        tagged_resources(clients, "k8s")
    assert err.value.message.startswith("cannot list resources tagged kubernetes.io/cluster/k8s in us-east-1: "
                                        "cannot reach http://127.0.0.1:")
    assert err.value.exit_code == 5
