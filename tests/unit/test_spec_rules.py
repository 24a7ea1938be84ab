"""cluster.yaml validation: every rule, as the user sees it (field path, line, message)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from kopsgen.errors import ExitCode, SpecError
from kopsgen.spec import load_spec, load_spec_text

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "kubeops" / "cluster.yaml"

BASE = {
    "clusterName": "k8s",
    "externalDNSName": "k8s.example.com",
    "region": "us-east-1",
    "kmsKeyArn": "",
    "controllerCount": 2,
    "etcdCount": 3,
    "worker": {"nodePools": [{"name": "pool1", "count": 2}]},
    "subnets": [
        {"name": "public1", "availabilityZone": "us-east-1a", "instanceCIDR": "10.0.0.0/24"},
        {"name": "public2", "availabilityZone": "us-east-1b", "instanceCIDR": "10.0.1.0/24"},
    ],
    "kubernetesVersion": "v1.34.2",
}


def doc(**changes) -> dict:
    d = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is DELETE:
            d.pop(key, None)
        else:
            d[key] = value
    return d


DELETE = object()


def errors_of(data) -> list[str]:
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    with pytest.raises(SpecError) as info:
        load_spec_text(text)
    assert info.value.exit_code == ExitCode.INVALID_SPEC
    return info.value.lines()


def pool(**kw) -> dict:
    return doc(worker={"nodePools": [{"name": "pool1", **kw}]})


def test_base_document_is_valid():
    loaded = load_spec_text(yaml.safe_dump(BASE))
    spec = loaded.spec
    assert spec.cluster_name == "k8s"
    assert [p.name for p in spec.node_pools] == ["pool1"]
    assert spec.node_pools[0].scaling.desired == 2
    assert spec.api_service_ip == "10.3.0.1"
    assert spec.kms_key_arn is None  # "" means: Terraform creates the key
    assert spec.etcd.data_volume.encrypted is True
    assert spec.controller.root_volume.type == "gp3"


def test_seed_example_validates_with_only_warnings():
    loaded = load_spec(SEED)
    assert loaded.spec.kubernetes_version == "v1.34.2"
    assert loaded.spec.subnets[1].name == "ManagedPrivateSubnet1"
    assert any("previous-generation" in str(w) for w in loaded.warnings)


def test_seed_verbatim_gives_exactly_the_version_error():
    text = SEED.read_text().replace("kubernetesVersion: v1.34.2",
                                    "kubernetesVersion: v1.5.3_coreos.0")
    lines = errors_of(text)
    assert len(lines) == 1
    assert "kubernetesVersion: v1.5.3_coreos.0 is end-of-life" in lines[0]
    assert "write `kubernetesVersion: v1.34.2`" in lines[0]
    line_no = text.splitlines().index("kubernetesVersion: v1.5.3_coreos.0") + 1
    assert lines[0].startswith(f"cluster.yaml:{line_no}:1: ")


def test_coreos_suffix_is_accepted_and_dropped():
    spec = load_spec_text(yaml.safe_dump(doc(kubernetesVersion="v1.34.2_coreos.0"))).spec
    assert spec.kubernetes_version == "v1.34.2"


def test_errors_are_all_reported_sorted_with_positions():
    text = (
        "clusterName: 1bad\n"
        "externalDNSName: k8s.example.com\n"
        "region: us-east-1\n"
        "etcdCount: 0\n"
        "workerCont: 3\n"
        "serviceCIDR: 10.3.0.0/24\n"
        "dnsServiceIP: 10.9.0.10\n"
    )
    lines = errors_of(text)
    assert lines == sorted(lines, key=lambda s: int(s.split(":")[1]))
    assert lines[0].startswith("cluster.yaml:1:1: clusterName:")
    assert any(s.startswith("cluster.yaml:4:1: etcdCount: must be at least 1") for s in lines)
    assert any(s.startswith("cluster.yaml:5:1: workerCont: unknown key") and
               "did you mean `workerCount`" not in s for s in lines)
    assert any(s.startswith("cluster.yaml:7:1: dnsServiceIP:") and "not inside serviceCIDR" in s
               for s in lines)


def test_duplicate_keys_are_errors():
    lines = errors_of("clusterName: a\nregion: us-east-1\nclusterName: b\n")
    assert any("cluster.yaml:3:1: clusterName: duplicate key (first defined on line 1)" in s
               for s in lines)


def test_nested_duplicate_key_in_pool():
    text = yaml.safe_dump(BASE).replace("- count: 2\n", "- count: 2\n    count: 3\n")
    lines = errors_of(text)
    assert any("worker.nodePools[0].count: duplicate key" in s for s in lines)


def test_yaml_syntax_error_has_position():
    lines = errors_of("clusterName: k8s\nsubnets: [\n  - a\n")
    assert len(lines) == 1
    assert lines[0].startswith("cluster.yaml:") and "invalid YAML" in lines[0]


@pytest.mark.parametrize("text, needle", [
    ("", "is empty; run `kopsgen init`"),
    ("- a\n- b\n", "must be a mapping"),
    ("just a string\n", "must be a mapping"),
    ("a: !!python/object/apply:os.system [ls]\n", "invalid value"),
])
def test_not_a_cluster_document(text, needle):
    lines = errors_of(text)
    assert any(needle in s for s in lines), lines


# Each case: the changed document, the field the error must name, a piece of its message.
CASES = [
    # unknown / removed keys
    (doc(clusterNmae="x"), "clusterNmae", "did you mean `clusterName`"),
    (doc(workerCount=3), "workerCount", "worker.nodePools[].count"),
    (doc(hostedZone="example.com."), "hostedZone", "hostedZoneId"),
    (doc(useCalico=True), "useCalico", "flannel"),
    (doc(experimental={"nodeDrainer": {"enabled": True}}), "experimental", "not supported"),
    (pool(count=1, spotFleet={"targetCapacity": 3}), "worker.nodePools[0].spotFleet", "spotPrice"),
    (pool(count=1, instancetype="t3.large"), "worker.nodePools[0].instancetype",
     "did you mean `instanceType`"),
    (doc(subnets=[{"name": "a", "availabilityZone": "us-east-1a", "instanceCIDR": "10.0.0.0/24",
                   "privat": True}]), "subnets[0].privat", "did you mean `private`"),
    (doc(controller={"loadBalancer": {"privat": True}}), "controller.loadBalancer.privat",
     "did you mean `private`"),
    (doc(etcd={"dataVolume": {"encripted": True}}), "etcd.dataVolume.encripted",
     "did you mean `encrypted`"),
    # required
    (doc(clusterName=DELETE), "clusterName", "is required"),
    (doc(externalDNSName=DELETE), "externalDNSName", "is required"),
    (doc(region=DELETE), "region", "is required"),
    # types
    (doc(controllerCount="2"), "controllerCount", "whole number"),
    (doc(controllerCount=2.5), "controllerCount", "whole number"),
    (doc(createRecordSet="yes please"), "createRecordSet", "true or false"),
    (doc(subnets={"name": "a"}), "subnets", "must be a list"),
    (doc(stackTags=["a"]), "stackTags", "mapping"),
    (doc(worker={"nodePools": [{"name": "p", "count": "four"}]}), "worker.nodePools[0].count",
     "whole number"),
    (doc(releaseChannel="edge"), "releaseChannel", "must be one of"),
    (doc(tlsKeyAlgorithm="rsa-1024"), "tlsKeyAlgorithm", "must be one of"),
    (doc(controllerTenancy="host"), "controllerTenancy", "must be one of"),
    # names
    (doc(clusterName="1k8s"), "clusterName", "must start with a letter"),
    (doc(clusterName="k8s_prod"), "clusterName", "letters, digits and hyphens"),
    (doc(clusterName="k8s-"), "clusterName", "not ending"),
    (doc(clusterName="a" * 21), "clusterName", "at most 20"),
    (doc(externalDNSName="k8s"), "externalDNSName", "fully qualified"),
    (doc(externalDNSName="k8s_api.example.com"), "externalDNSName", "letters, digits"),
    (doc(externalDNSName="10.0.0.1"), "externalDNSName", "not an IP address"),
    (doc(externalDNSName="k8s..example.com"), "externalDNSName", "empty label"),
    (pool(name="Pool_1"), "worker.nodePools[0].name", "DNS label"),
    (doc(worker={"nodePools": [{"name": "a"}, {"name": "a"}]}), "worker.nodePools[1].name",
     "duplicate node pool name"),
    (doc(worker={"nodePools": [{"count": 1}]}), "worker.nodePools[0].name", "is required"),
    (doc(subnets=[{"name": "a", "availabilityZone": "us-east-1a", "instanceCIDR": "10.0.0.0/24"},
                  {"name": "A", "availabilityZone": "us-east-1b", "instanceCIDR": "10.0.1.0/24"}]),
     "subnets[1].name", "duplicate subnet name"),
    # region, zones
    (doc(region="us-east"), "region", "not an AWS region"),
    (doc(region="US-EAST-1"), "region", "not an AWS region"),
    (doc(subnets=[{"name": "a", "availabilityZone": "us-west-2a", "instanceCIDR": "10.0.0.0/24"}]),
     "subnets[0].availabilityZone", "not in region"),
    (doc(subnets=DELETE, availabilityZone="eu-west-1a"), "availabilityZone", "not in region"),
    (doc(availabilityZone="us-east-1a"), "availabilityZone", "mutually exclusive"),
    (doc(instanceCIDR="10.0.0.0/24"), "instanceCIDR", "single-AZ"),
    (doc(subnets=[]), "subnets", "at least one"),
    (doc(subnets=[{"name": "a", "availabilityZone": "us-east-1a"}]), "subnets[0].instanceCIDR",
     "is required"),
    # instance types
    (doc(controllerInstanceType="t3medium"), "controllerInstanceType", "not an EC2 instance type"),
    (doc(etcdInstanceType="t3.huge"), "etcdInstanceType", "not an EC2 instance type"),
    (doc(controllerInstanceType="t3.micro"), "controllerInstanceType", "too small"),
    (pool(instanceType="m5"), "worker.nodePools[0].instanceType", "not an EC2 instance type"),
    # counts, ASG
    (doc(controllerCount=0), "controllerCount", "at least 1"),
    (doc(etcdCount=-1), "etcdCount", "at least 1"),
    (doc(etcdCount=11), "etcdCount", "3, 5 or 7"),
    (pool(count=2, autoScalingGroup={"minSize": 1, "maxSize": 3}),
     "worker.nodePools[0].count", "mutually exclusive"),
    (pool(autoScalingGroup={"minSize": 4, "maxSize": 3}),
     "worker.nodePools[0].autoScalingGroup.minSize", "must not exceed maxSize"),
    (pool(autoScalingGroup={"minSize": 1}), "worker.nodePools[0].autoScalingGroup.maxSize",
     "is required"),
    (pool(autoScalingGroup={"minSize": 1, "maxSize": 3, "rollingUpdateMinInstancesInService": 3}),
     "worker.nodePools[0].autoScalingGroup.rollingUpdateMinInstancesInService", "less than"),
    (pool(count=-1), "worker.nodePools[0].count", "at least 0"),
    (doc(controller={"autoScalingGroup": {"minSize": 3, "maxSize": 2}}),
     "controller.autoScalingGroup.minSize", "must not exceed"),
    (pool(clusterAutoscaler={"minSize": 5, "maxSize": 2}),
     "worker.nodePools[0].clusterAutoscaler.minSize", "must not exceed"),
    (doc(controllerCount=2, controller={"count": 3}), "controller.count", "conflicts with"),
    # volumes
    (doc(controllerRootVolumeType="st1"), "controllerRootVolumeType", "cannot be a root volume"),
    (doc(workerRootVolumeType="gp9"), "workerRootVolumeType", "unknown EBS volume type"),
    (pool(rootVolumeType="io2"), "worker.nodePools[0].rootVolumeIOPS", "is required for io2"),
    (doc(controllerRootVolumeType="io1"), "controllerRootVolumeIOPS", "is required for io1"),
    (doc(controllerRootVolumeType="io1", controllerRootVolumeIOPS=50),
     "controllerRootVolumeIOPS", "outside 100-64000"),
    (doc(controllerRootVolumeType="io1", controllerRootVolumeIOPS=2000),
     "controllerRootVolumeIOPS", "50 IOPS per GiB"),
    (doc(etcdRootVolumeType="gp2", etcdRootVolumeIOPS=3000), "etcdRootVolumeIOPS", "cannot be set"),
    (doc(etcdDataVolumeType="gp3", etcdDataVolumeIOPS=1000), "etcdDataVolumeIOPS",
     "outside 3000-16000"),
    (doc(controllerRootVolumeSize=4), "controllerRootVolumeSize", "at least 8 GiB"),
    (doc(etcdDataVolumeSize=20000), "etcdDataVolumeSize", "outside 1-16384"),
    (doc(etcdDataVolumeEncrypted=False), "etcdDataVolumeEncrypted", "must be encrypted"),
    (pool(rootVolume={"size": 10, "type": "sc1"}), "worker.nodePools[0].rootVolume.type",
     "cannot be a root volume"),
    # spot, tenancy
    (pool(spotPrice="cheap"), "worker.nodePools[0].spotPrice", "not a price"),
    (pool(spotPrice="-0.1"), "worker.nodePools[0].spotPrice", "not a price"),
    (pool(spotPrice="0"), "worker.nodePools[0].spotPrice", "greater than 0"),
    (pool(spotPrice="0.05", tenancy="dedicated"), "worker.nodePools[0].spotPrice",
     "dedicated tenancy"),
    (doc(workerSpotPrice="abc"), "workerSpotPrice", "not a price"),
    # labels, taints
    (pool(taints=[{"key": "a", "value": "b", "effect": "NoRun"}]),
     "worker.nodePools[0].taints[0].effect", "must be one of"),
    (pool(taints=[{"key": "a", "value": "b"}]), "worker.nodePools[0].taints[0].effect",
     "is required"),
    (pool(taints=[{"key": "bad key", "effect": "NoSchedule"}]),
     "worker.nodePools[0].taints[0].key", "taint key"),
    (pool(nodeLabels={"node-role.kubernetes.io/worker": ""}),
     "worker.nodePools[0].nodeLabels.node-role.kubernetes.io/worker", "NodeRestriction"),
    (pool(nodeLabels={"team": "a b"}), "worker.nodePools[0].nodeLabels.team", "label value"),
    (pool(securityGroupIds=["sg-zz"]), "worker.nodePools[0].securityGroupIds[0]",
     "security group ID"),
    # network arithmetic
    (doc(vpcCIDR="10.0.0.0/33"), "vpcCIDR", "not a valid CIDR"),
    (doc(vpcCIDR="10.0.0.1/16"), "vpcCIDR", "host bits set; did you mean 10.0.0.0/16"),
    (doc(vpcCIDR="10.0.0.0"), "vpcCIDR", "not a CIDR"),
    (doc(vpcCIDR="10.0.0.0/8"), "vpcCIDR", "/16 and /28"),
    (doc(vpcCIDR="fd00::/48"), "vpcCIDR", "only IPv4"),
    (doc(subnets=[{"name": "a", "availabilityZone": "us-east-1a", "instanceCIDR": "10.1.0.0/24"}]),
     "subnets[0].instanceCIDR", "not inside vpcCIDR"),
    (doc(subnets=[{"name": "a", "availabilityZone": "us-east-1a", "instanceCIDR": "10.0.0.0/24"},
                  {"name": "b", "availabilityZone": "us-east-1b", "instanceCIDR": "10.0.0.128/25"}]),
     "subnets[1].instanceCIDR", "overlaps subnets[0]"),
    (doc(podCIDR="10.0.0.0/16"), "podCIDR", "overlaps vpcCIDR"),
    (doc(serviceCIDR="10.2.0.0/24"), "serviceCIDR", "overlaps podCIDR"),
    (doc(dnsServiceIP="10.3.0.1"), "dnsServiceIP", "is the API service IP"),
    (doc(dnsServiceIP="10.4.0.10"), "dnsServiceIP", "not inside serviceCIDR"),
    (doc(dnsServiceIP="ten"), "dnsServiceIP", "not an IPv4 address"),
    (doc(serviceCIDR="10.3.0.0/30", dnsServiceIP="10.3.0.2"), "serviceCIDR", "too small"),
    (doc(serviceCIDR="10.0.0.0/8", vpcCIDR="192.168.0.0/16",
         subnets=[{"name": "a", "availabilityZone": "us-east-1a",
                   "instanceCIDR": "192.168.0.0/24"}],
         podCIDR="172.16.0.0/16", dnsServiceIP="10.0.0.10"), "serviceCIDR", "too large"),
    (doc(podCIDR="10.2.0.0/26"), "podCIDR", "too small"),
    (doc(subnets=[{"name": "pub", "availabilityZone": "us-east-1a", "instanceCIDR": "10.0.0.0/24"},
                  {"name": "priv", "availabilityZone": "us-east-1b", "instanceCIDR": "10.0.1.0/24",
                   "private": True}]),
     "subnets[1].private", "no public subnet for its NAT gateway"),
    (doc(subnets=[{"name": "priv", "availabilityZone": "us-east-1a",
                   "instanceCIDR": "10.0.1.0/24", "private": True}]),
     "subnets", "needs at least one public subnet"),
    (pool(subnets=[{"name": "nope"}]), "worker.nodePools[0].subnets[0].name",
     "no subnet named 'nope'"),
    (doc(controller={"subnets": [{"name": "public3"}]}), "controller.subnets[0].name",
     "did you mean 'public"),
    (doc(internetGatewayId="igw-0123456789abcdef0"), "internetGatewayId", "only be used with vpcId"),
    (doc(routeTableId="rtb-12345678"), "routeTableId", "only be used with vpcId"),
    (doc(vpcId="vpc-xyz"), "vpcId", "not a VPC ID"),
    (doc(vpcId="vpc-01234567", routeTableId="rtb-01234567",
         subnets=[{"name": "a", "availabilityZone": "us-east-1a", "instanceCIDR": "10.0.0.0/24",
                   "private": True}]), "subnets[0].private", "cannot be true with routeTableId"),
    (doc(controllerCount=DELETE, controller={"autoScalingGroup": {"minSize": 0, "maxSize": 2}}),
     "controller.autoScalingGroup.minSize", "needs a controller"),
    # route53
    (doc(createRecordSet=True), "createRecordSet", "needs hostedZoneId"),
    (doc(createRecordSet=True, hostedZoneId="Z1", recordSetTTL=0), "recordSetTTL", "at least 1"),
    (doc(hostedZoneId="z-lower"), "hostedZoneId", "not a Route53 hosted zone ID"),
    # kms, s3, days, version, tags, misc
    (doc(kmsKeyArn="arn:aws:kms:us-east-1:123:key/abc"), "kmsKeyArn", "not a KMS key ARN"),
    (doc(kmsKeyArn="arn:aws:kms:eu-west-1:123456789012:key/12345678-1234-1234-1234-1234567890ab"),
     "kmsKeyArn", "not in the cluster's region"),
    (doc(s3URI="https://bucket/x"), "s3URI", "not an S3 URI"),
    (doc(s3URI="s3://Bad_Bucket/x"), "s3URI", "not a valid S3 bucket name"),
    (doc(tlsCADurationDays=0), "tlsCADurationDays", "at least 1 day"),
    (doc(tlsCertDurationDays=-5), "tlsCertDurationDays", "at least 1 day"),
    (doc(tlsCertDurationDays=4000), "tlsCertDurationDays", "outlives the CA"),
    (doc(kubernetesVersion="1.34"), "kubernetesVersion", "not a Kubernetes version"),
    (doc(kubernetesVersion="v1.5.3_coreos.0"), "kubernetesVersion", "end-of-life"),
    (doc(kubernetesVersion="v1.99.0"), "kubernetesVersion", "newer than kopsgen supports"),
    (doc(stackTags={"aws:owner": "me"}), "stackTags.aws:owner", "reserved"),
    (doc(stackTags={"kubernetes.io/cluster/k8s": "owned"}), "stackTags.kubernetes.io/cluster/k8s",
     "sets the kubernetes.io/cluster/ tag itself"),
    (doc(amiId="ami-123"), "amiId", "not an AMI ID"),
    (doc(sshAccessAllowedSourceCIDRs=["0.0.0.0/33"]), "sshAccessAllowedSourceCIDRs[0]",
     "not a valid CIDR"),
    (doc(apiAccessAllowedSourceCIDRs=["1.2.3.4"]), "apiAccessAllowedSourceCIDRs[0]", "not a CIDR"),
    (doc(sshAuthorizedKeys=["not a key"]), "sshAuthorizedKeys[0]", "OpenSSH public key"),
]


@pytest.mark.parametrize("data, field, needle", CASES,
                         ids=[f"{i:03d}-{c[1]}" for i, c in enumerate(CASES)])
def test_bad_input_names_the_field(data, field, needle):
    lines = errors_of(data)
    hits = [s for s in lines if f": {field}: " in s]
    assert hits, f"no error for {field}: {lines}"
    assert any(needle in s for s in hits), hits
    for s in lines:
        # file:line:col: field: message -- a real position for every problem
        file, line, col, _ = s.split(":", 3)
        assert file == "cluster.yaml" and int(line) >= 1 and int(col) >= 1, s


@pytest.mark.parametrize("data, needle", [
    (doc(controllerCount=1), "single controller is not highly available"),
    (doc(etcdCount=4), "even number of etcd members"),
    (doc(etcdCount=1), "single etcd member"),
    (doc(workerInstanceType="m3.medium"), "previous-generation"),
    (doc(keyName="admin"), "sshAccessAllowedSourceCIDRs is empty"),
    (doc(hostedZoneId="Z123"), "createRecordSet is not true"),
])
def test_warnings_do_not_fail(data, needle):
    loaded = load_spec_text(yaml.safe_dump(data))
    assert any(needle in str(w) for w in loaded.warnings), loaded.warnings


def test_flat_and_nested_spellings_agree():
    flat = load_spec_text(yaml.safe_dump(doc(
        controllerCount=3, controllerInstanceType="m6i.large", controllerRootVolumeSize=40,
        etcdDataVolumeSize=50, etcdDataVolumeType="io1", etcdDataVolumeIOPS=1000))).spec
    nested = load_spec_text(yaml.safe_dump(doc(
        controllerCount=DELETE, controller={"count": 3, "instanceType": "m6i.large",
                                            "rootVolume": {"size": 40}},
        etcd={"dataVolume": {"size": 50, "type": "io1", "iops": 1000}}))).spec
    assert flat.controller == nested.controller
    assert flat.etcd == nested.etcd


def test_worker_defaults_apply_to_every_pool():
    spec = load_spec_text(yaml.safe_dump(doc(
        workerInstanceType="m6i.large", workerRootVolumeSize=60, workerSpotPrice="0.1",
        workerSecurityGroupIds=["sg-01234567"],
        worker={"nodePools": [{"name": "a"}, {"name": "b", "instanceType": "c6i.xlarge",
                                              "spotPrice": 0.2}]}))).spec
    a, b = spec.node_pools
    assert (a.instance_type, a.root_volume.size, a.spot_price) == ("m6i.large", 60, "0.1")
    assert (b.instance_type, b.root_volume.size, b.spot_price) == ("c6i.xlarge", 60, "0.2")
    assert a.security_group_ids == b.security_group_ids == ("sg-01234567",)


def test_defaults_without_subnets_use_two_zones():
    spec = load_spec_text(yaml.safe_dump(doc(subnets=DELETE))).spec
    assert [s.availability_zone for s in spec.subnets] == ["us-east-1a", "us-east-1b"]
    assert not spec.single_az


def test_single_az_mode():
    spec = load_spec_text(yaml.safe_dump(doc(subnets=DELETE, availabilityZone="us-east-1d",
                                             instanceCIDR="10.0.5.0/24"))).spec
    assert spec.single_az
    assert [(s.availability_zone, s.cidr) for s in spec.subnets] == [("us-east-1d", "10.0.5.0/24")]


def test_private_subnets_host_nodes_public_host_load_balancer():
    spec = load_spec_text(yaml.safe_dump(doc(subnets=[
        {"name": "pub", "availabilityZone": "us-east-1a", "instanceCIDR": "10.0.0.0/24"},
        {"name": "priv", "availabilityZone": "us-east-1a", "instanceCIDR": "10.0.1.0/24",
         "private": True}]))).spec
    assert spec.controller.subnets == ("priv",)
    assert spec.controller.load_balancer_subnets == ("pub",)
    assert spec.node_pools[0].subnets == ("priv",)


def test_hosted_zone_prefix_is_stripped_and_s3_prefix_normalised():
    spec = load_spec_text(yaml.safe_dump(doc(
        createRecordSet=True, hostedZoneId="/hostedzone/Z0123", s3URI="s3://my-bucket/a/b/"))).spec
    assert spec.hosted_zone_id == "Z0123"
    assert (spec.s3.bucket, spec.s3.prefix) == ("my-bucket", "a/b")


def test_billion_laughs_is_refused():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i, name in enumerate("bcdefgh"):
        prev = "abcdefgh"[i]
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    errs = errors_of("\n".join(lines) + "\n")
    assert any("too many values" in s for s in errs)


KUBE_AWS_097_TEMPLATE = """\
# Unique name of Kubernetes cluster.
clusterName: mycluster
#releaseChannel: stable
apiEndpoints:
- # The unique name of this API endpoint
  name: default
  dnsName: api.example.com
  loadBalancer:
    #private: false
    hostedZone:
      # The ID of hosted zone to add the dnsName to.
      id: Z3P5QSUBK4POTI
keyName: mykey
region: us-west-2
availabilityZone: us-west-2a
kmsKeyArn: "arn:aws:kms:us-west-2:123456789012:key/12345678-90ab-cdef-1234-567890abcdef"
worker:
  nodePools:
    - # Name of this node pool.
      name: nodepool1
#      subnets:
#      - name: ManagedPublicSubnet1
"""


def test_kube_aws_api_endpoints_template_loads():
    loaded = load_spec_text(KUBE_AWS_097_TEMPLATE)
    spec = loaded.spec
    assert spec.external_dns_name == "api.example.com"
    assert spec.hosted_zone_id == "Z3P5QSUBK4POTI" and spec.create_record_set
    assert spec.single_az and spec.subnets[0].availability_zone == "us-west-2a"


def test_two_api_endpoints_are_refused():
    text = KUBE_AWS_097_TEMPLATE.replace(
        "apiEndpoints:\n", "apiEndpoints:\n- name: other\n  dnsName: b.example.com\n")
    lines = errors_of(text)
    assert any(": apiEndpoints: kopsgen supports exactly one API endpoint" in s for s in lines)


def test_api_endpoint_private_maps_to_internal_load_balancer():
    text = KUBE_AWS_097_TEMPLATE.replace("#private: false", "private: true")
    lines = errors_of(text)  # single-AZ public subnet: an internal LB needs private subnets
    assert any("controller.loadBalancer.private" in s for s in lines)


def test_assets_mirrors_are_read_and_checked():
    spec = load_spec_text(yaml.safe_dump(doc(assets={
        "fileRepository": "https://mirror.example.com/files/",
        "containerRegistry": "mirror.example.com:5000/k8s"}))).spec
    assert spec.assets.file_repository == "https://mirror.example.com/files"
    assert spec.assets.container_registry == "mirror.example.com:5000/k8s"
    assert load_spec_text(yaml.safe_dump(BASE)).spec.assets.file_repository is None
    lines = errors_of(doc(assets={"fileRepository": "ftp://x/$(reboot)",
                                  "containerRegistry": "https://registry"}))
    assert any("assets.fileRepository: 'ftp://x/$(reboot)' is not an http(s) URL" in ln
               for ln in lines), lines
    assert any("assets.containerRegistry: 'https://registry' is not a registry host" in ln
               for ln in lines), lines
    assert any("assets.mirror" in ln and "unknown" in ln.lower() or "did you mean" in ln
               for ln in errors_of(doc(assets={"mirror": "x"})))


# ------------------------------------------- what validate accepts, Terraform and AWS take


@pytest.mark.parametrize("prefix", ["a*b", "$(id)", "a'b", 'a"b', "a b", "${x}", "a?b", "a#b",
                                    "a/../b", "./a", "a\nb", "é", "a!b", "a(b)", "x" * 513])
def test_s3_prefixes_outside_the_safe_set_are_refused(prefix):
    lines = errors_of(doc(s3URI=f"s3://bucket/{prefix}"))
    assert len(lines) == 1 and ": s3URI: " in lines[0], lines


@pytest.mark.parametrize("prefix", ["clusters", "a/b/c", "team-1/k8s_prod/v1.2", "A.B"])
def test_safe_s3_prefixes_are_accepted(prefix):
    spec = load_spec_text(yaml.safe_dump(doc(s3URI=f"s3://bucket/{prefix}/"))).spec
    assert spec.s3.prefix == prefix


@pytest.mark.parametrize("bucket", ["xn--bucket", "sthree-b", "bucket-s3alias", "b--ol-s3"])
def test_bucket_names_s3_reserves_are_refused(bucket):
    (line,) = errors_of(doc(s3URI=f"s3://{bucket}"))
    assert "reserved by S3" in line


@pytest.mark.parametrize("name", ["Pool1", "POOL", "pool_1", "pool.1"])
def test_pool_names_are_lowercase_dns_labels(name):
    (line,) = errors_of(pool(name=name, count=1))
    assert ": worker.nodePools[0].name: " in line and "lowercase DNS label" in line


def test_cluster_names_are_lowercase():
    (line,) = errors_of(doc(clusterName="K8s"))
    assert ": clusterName: " in line and "lowercase" in line


@pytest.mark.parametrize("value", ["a\x00b", "a\x1bb", "a\nb", "a\tb", "a\u2028b", "a\ud800",
                                   "a*b", "a$b", 'a"b', "a,b", "a;b"])
def test_tag_values_outside_the_aws_charset_are_refused(value):
    (line,) = errors_of(doc(stackTags={"Team": value}))
    assert ": stackTags.Team: tag value contains " in line
    assert "\n" not in line


@pytest.mark.parametrize("key", ["a\x00", "a b\n", "a*"])
def test_tag_keys_outside_the_aws_charset_are_refused(key):
    lines = errors_of(doc(stackTags={key: "x"}))
    assert len(lines) == 1 and "tag key contains" in lines[0], lines


def test_tag_values_may_be_unicode_letters_digits_spaces_and_the_aws_punctuation():
    value = "Équipe 中文 ٣ a+b-c=d.e_f:g/h@i"
    spec = load_spec_text(yaml.safe_dump(doc(stackTags={"Team": value}))).spec
    assert ("Team", value) in spec.stack_tags


def test_tag_values_may_not_start_with_aws_prefix():
    (line,) = errors_of(doc(stackTags={"Team": "AWS:x"}))
    assert "reserved by AWS" in line


def test_lts_needs_an_ami():
    (line,) = errors_of(doc(releaseChannel="lts"))
    assert ": releaseChannel: " in line and "amiId" in line
    assert load_spec_text(yaml.safe_dump(doc(releaseChannel="lts",
                                             amiId="ami-0123456789abcdef0"))).spec


@pytest.mark.parametrize("key, value", [("keyName", "café"), ("keyName", "admin\u00a0")])
def test_key_names_are_printable_ascii(key, value):
    (line,) = errors_of(doc(**{key: value}))
    assert f": {key}: " in line


def test_shadowed_flat_volume_keys_are_still_checked():
    """workerRootVolumeType is overridden by every pool's own rootVolumeType, so it was
    never resolved -- and any text passed."""
    data = doc(workerRootVolumeType="gp3\n", worker={"nodePools": [
        {"name": "pool1", "count": 1, "rootVolumeType": "gp3"}]})
    (line,) = errors_of(data)
    assert ": workerRootVolumeType: unknown EBS volume type" in line


@pytest.mark.parametrize("text", ["0.05\n", " 0.05", "100000"])
def test_spot_prices_are_plain_bounded_decimals(text):
    (line,) = errors_of(pool(count=1, spotPrice=text))
    assert ": worker.nodePools[0].spotPrice: " in line


# ------------------------------------------------------- inherited worker* defaults (#13)


def _numbered(data: dict) -> tuple[str, dict[str, int]]:
    text = yaml.safe_dump(data, sort_keys=False)
    lines = {}
    for i, line in enumerate(text.splitlines(), 1):
        key = line.strip().lstrip("- ").split(":", 1)[0]
        lines.setdefault(key, i)
    return text, lines


def test_inherited_tenancy_is_named_where_it_is_written():
    data = doc(workerTenancy="dedicated",
               worker={"nodePools": [{"name": "pool1", "count": 1, "spotPrice": "0.05"}]})
    text, at = _numbered(data)
    (line,) = errors_of(text)
    assert line.startswith(f"cluster.yaml:{at['spotPrice']}:") and (
        ": worker.nodePools[0].spotPrice: ") in line
    assert f"pool 'pool1' inherits `workerTenancy` (cluster.yaml:{at['workerTenancy']})" in line
    assert "remove spotPrice, or set tenancy: default in this pool" in line


def test_inherited_spot_price_is_named_where_it_is_written():
    data = doc(workerSpotPrice="0.05",
               worker={"nodePools": [{"name": "pool1", "count": 1, "tenancy": "dedicated"}]})
    text, at = _numbered(data)
    (line,) = errors_of(text)
    assert line.startswith(f"cluster.yaml:{at['tenancy']}:") and (
        ": worker.nodePools[0].tenancy: ") in line
    assert f"inherits `workerSpotPrice` (cluster.yaml:{at['workerSpotPrice']})" in line
    assert "remove spotPrice" not in line  # the user never wrote a spotPrice in this pool


def test_both_inherited_points_at_the_top_level_keys_not_the_pool():
    data = doc(workerSpotPrice="0.05", workerTenancy="dedicated")
    text, at = _numbered(data)
    (line,) = errors_of(text)
    # Before: "worker.nodePools[0].tenancy: ... remove spotPrice or set tenancy: default"
    # at the pool's line, naming two keys the pool does not have.
    assert line.startswith(f"cluster.yaml:{at['workerSpotPrice']}:1: workerSpotPrice: ")
    assert f"`workerTenancy` (cluster.yaml:{at['workerTenancy']})" in line
    assert "pool 'pool1' inherits both" in line


def test_the_s3_uri_option_takes_the_same_rules_as_s3uri():
    from kopsgen.errors import UsageError
    from kopsgen.flows.session import parse_s3_uri

    with pytest.raises(UsageError, match=r"--s3-uri: prefix 'a\*b' may contain only"):
        parse_s3_uri("s3://bucket/a*b")
    assert parse_s3_uri("s3://bucket/team/k8s/").prefix == "team/k8s"


def warnings_of(data) -> list[str]:
    return [f"{w.field}: {w.message}" for w in load_spec_text(yaml.safe_dump(data)).warnings]


def test_an_unknown_region_is_said_at_region_with_the_nearest_known_one():
    data = doc(region="us-east-9", subnets=[
        {"name": "a", "availabilityZone": "us-east-9a", "instanceCIDR": "10.0.0.0/24"}])
    assert ("region: 'us-east-9' is not an AWS region kopsgen knows (did you mean "
            "'us-east-2'?); `kopsgen validate --aws` checks that it exists") in warnings_of(data)
    assert not any(w.startswith("region:") for w in warnings_of(doc(region="us-east-1")))


def test_a_subnet_whose_name_says_private_but_is_public_warns():
    def subnets(name, private):
        entry = {"name": name, "availabilityZone": "us-east-1a", "instanceCIDR": "10.0.0.0/24"}
        if private is not None:
            entry["private"] = private
        return doc(subnets=[entry])

    assert ("subnets[0].private: subnet 'ManagedPrivateSubnet1' is public (private: false) "
            "but its name says private") in warnings_of(subnets("ManagedPrivateSubnet1", False))
    assert any(w.startswith("subnets[0].name: subnet 'ManagedPrivateSubnet1' is public")
               for w in warnings_of(subnets("ManagedPrivateSubnet1", None)))
    for name, private in (("ManagedPublicSubnet1", False), ("nodes", False)):
        assert not any(w.startswith("subnets[0]") for w in warnings_of(subnets(name, private)))
