"""The node roles' IAM policies as documents: rendered by the real terraform from
modules/iam exactly as an apply would send them to AWS, parsed, and asked questions.

Every statement that allows an action on ``*`` or relies on a condition is listed here with
why (``REVIEWED``), so a new one cannot slip in unread. A small evaluator of IAM's policy
logic answers "may this role do this action on a resource with these tags, in a call with
these request values", which tests the ways a compromised controller could bend its limits
(tag a foreign resource, then change it) directly. docs/security.md ("IAM") explains each.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess

import helpers
import pytest

REPO = helpers.REPO
CLUSTER = "k8s"
REGION = "eu-west-1"
ACCOUNT = "111122223333"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f0e0d0c-0b0a-0908-0706-050403020100"
BUCKET, PREFIX = "assets", "team/k8s"
OWNED = {f"kubernetes.io/cluster/{CLUSTER}": "owned"}
FOREIGN_SG = f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-0123456789abcdef0"
SG = FOREIGN_SG
LB = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/net/a1b2c3/0123456789abcdef"
TG = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/k8s-default-web/0123456789abcdef"
INSTANCE = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0123456789abcdef0"
VOLUME = f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/vol-0123456789abcdef0"
SNAPSHOT = f"arn:aws:ec2:{REGION}::snapshot/snap-0123456789abcdef0"
# What the EBS CSI driver tags its volumes with under --k8s-tag-cluster-id (its docs/tagging.md).
DRIVER_TAGS = {**OWNED, "ebs.csi.aws.com/cluster": "true", "CSIVolumeName": "pvc-1"}
# What the cloud-controller-manager tags the load balancers, target groups and listeners of
# a Service with (cloud-provider-aws aws_loadbalancer.go: buildTags + TagNameKubernetesService).
SERVICE_LB_TAGS = {**OWNED, "kubernetes.io/service-name": "default/web"}
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:k8s-node-termination"


def group_arn(name: str) -> str:
    return (f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:"
            f"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0:autoScalingGroupName/{name}")


# -- rendering ------------------------------------------------------------------------------


RESTORE = "backups/etcd/20261201T100000Z-etcd0-" + "ab" * 32 + ".db"


@pytest.fixture(scope="module")
def policies(tmp_path_factory) -> dict[str, dict[str, dict]]:
    """role -> policy name -> document, from `terraform plan` of modules/iam."""
    return _plan_policies(tmp_path_factory.mktemp("iam"), "")


@pytest.fixture(scope="module")
def restore_policies(tmp_path_factory) -> dict[str, dict[str, dict]]:
    """The same while cluster.yaml names a snapshot to restore (etcd.restore.snapshot)."""
    return _plan_policies(tmp_path_factory.mktemp("iam-restore"), RESTORE)


def _plan_policies(tmp, restore_snapshot: str) -> dict[str, dict[str, dict]]:
    """The module's only data sources (partition, region) come from the provider's own
    configuration, so the plan needs no AWS endpoint; the plan JSON holds the policy
    strings exactly as the apply would send them."""
    terraform = helpers.require_tool("terraform")
    shutil.copytree(REPO / "modules" / "iam", tmp / "iam")
    root = tmp / "root"
    root.mkdir()
    (root / "main.tf").write_text(f"""
provider "aws" {{
  region                      = "{REGION}"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}}

module "iam" {{
  source        = "../iam"
  cluster_name  = "{CLUSTER}"
  assets_bucket = "{BUCKET}"
  assets_prefix = "{PREFIX}"
  kms_key_arn   = "{KEY}"

  termination_queue_arn   = "{QUEUE}"
  autoscaling_group_names = ["k8s-controller", "k8s-nodepool1"]
  etcd_restore_snapshot = "{restore_snapshot}"
}}
""")
    env = helpers.terraform_env(tmp)
    for cmd in (["init", "-input=false", "-no-color"],
                ["plan", "-input=false", "-no-color", "-refresh=false", "-out=plan"]):
        proc = subprocess.run([terraform, *cmd], cwd=root, env=env, capture_output=True,
                              text=True, check=False, timeout=600)
        if proc.returncode != 0 and "registry.terraform.io" in proc.stderr and cmd[0] == "init":
            helpers.missing(f"terraform init could not install hashicorp/aws: {proc.stderr[-500:]}")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    shown = subprocess.run([terraform, "show", "-json", "plan"], cwd=root, env=env,
                           capture_output=True, text=True, check=True)
    plan = json.loads(shown.stdout)
    found: dict[str, dict[str, dict]] = {}
    managed = {}
    for rc in plan["resource_changes"]:
        after = rc["change"]["after"] or {}
        if rc["type"] == "aws_iam_role_policy":
            # The role is known only after apply: read it from the address (roles.tf:
            # assets["<role>"] for every role, worker_node for the workers, etcd_backups
            # for the etcd members' snapshots).
            role = rc.get("index") or {"worker_node": "worker", "etcd_backups": "etcd"}[rc["name"]]
            found.setdefault(role, {})[after["name"]] = json.loads(after["policy"])
        elif rc["type"] == "aws_iam_policy":
            managed[after["name"].removeprefix(f"{CLUSTER}-")] = json.loads(after["policy"])
    # The managed policies are attached to the controller (roles.tf); the attachments'
    # policy ARNs are unknown at plan time, so check their addresses name them.
    attached = {rc["address"] for rc in plan["resource_changes"]
                if rc["type"] == "aws_iam_role_policy_attachment"}
    assert attached == {"module.iam.aws_iam_role_policy_attachment.controller_cloud_provider",
                        "module.iam.aws_iam_role_policy_attachment.controller_ebs_csi",
                        "module.iam.aws_iam_role_policy_attachment."
                        "controller_node_termination_handler"}
    found["controller"].update(managed)
    assert set(found) == {"etcd", "controller", "worker"}, found.keys()
    return found


# -- the evaluator --------------------------------------------------------------------------


def _values(v) -> list[str]:
    return [v] if isinstance(v, str) else list(v)


def _condition_holds(op: str, key: str, wanted, context: dict[str, object]) -> bool:
    """One condition operator on one key, as IAM evaluates it (IAM User Guide, "IAM JSON
    policy elements: Condition operators" and "...: Condition", read 2026-12): several
    values for one key are ORed; a key missing from the request context makes a positive
    operator false and a negated one (StringNotEquals, StringNotLike) true; ``Null`` is
    true when the key's absence equals the value; ``ForAllValues:`` holds when every value
    of a multi-valued key matches (vacuously when the key is absent) and ``ForAnyValue:``
    when at least one does. Condition keys and tag keys compare case-insensitively as
    keys, values case-sensitively."""
    wanted = _values(wanted)
    present = key.lower() in context
    actual = context.get(key.lower())
    if op == "Null":
        return (not present) == (wanted[0] == "true")
    qualifier, _, base = op.rpartition(":")
    negated = "Not" in base
    match = {"StringEquals": lambda a, w: a == w, "StringNotEquals": lambda a, w: a == w,
             "StringLike": fnmatch.fnmatchcase, "StringNotLike": fnmatch.fnmatchcase,
             "Bool": lambda a, w: str(a).lower() == w.lower()}[base]
    if qualifier == "ForAllValues":
        items = _values(actual) if present else []
        return all(any(match(a, w) for w in wanted) != negated for a in items)
    if qualifier == "ForAnyValue":
        items = _values(actual) if present else []
        return any(any(match(a, w) for w in wanted) != negated for a in items)
    if not present:
        return negated
    hit = any(match(a, w) for a in _values(actual) for w in wanted)
    return hit != negated


def _statement_allows(s: dict, action: str, resource: str, context: dict[str, object]) -> bool:
    if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _values(s["Action"])):
        return False
    if not any(fnmatch.fnmatchcase(resource, r) for r in _values(s["Resource"])):
        return False
    return all(_condition_holds(op, key, wanted, context)
               for op, keys in s.get("Condition", {}).items() for key, wanted in keys.items())


def may(documents: dict[str, dict], action: str, resource: str, *, tags: dict | None = None,
        request_tags: dict | None = None, **keys) -> bool:
    """Whether a principal with these identity policies may do ``action`` on ``resource``.

    IAM policy evaluation logic (IAM User Guide, "Policy evaluation logic", read 2026-12):
    an explicit Deny wins, else any Allow whose Action, Resource and every Condition
    match allows, else the request is implicitly denied. Only identity-based policies
    are modelled (the cluster key's policy delegates to IAM, modules/cluster_key). The
    request context holds the resource's tags as ``aws:ResourceTag/<key>``, the request's
    tags as ``aws:RequestTag/<key>`` and ``aws:TagKeys``, and service keys given as
    keyword arguments (``ec2_CreateAction="CreateSecurityGroup"`` for ec2:CreateAction)."""
    context: dict[str, object] = {}
    for k, v in (tags or {}).items():
        context[f"aws:resourcetag/{k}".lower()] = v
    if request_tags is not None:
        for k, v in request_tags.items():
            context[f"aws:requesttag/{k}".lower()] = v
        context["aws:tagkeys"] = list(request_tags)
    for k, v in keys.items():
        service, _, name = k.partition("_")
        context[f"{service}:{name}".replace("__", ":").lower()] = v
    statements = [s for d in documents.values() for s in d["Statement"]]
    if any(s["Effect"] == "Deny" and _statement_allows(s, action, resource, context)
           for s in statements):
        return False
    return any(s["Effect"] == "Allow" and _statement_allows(s, action, resource, context)
               for s in statements)


def test_the_evaluator_follows_iam_semantics():
    doc = {"p": {"Statement": [
        {"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": "*",
         "Condition": {"StringNotEquals": {"aws:ResourceTag/role": "etcd"}}},
        {"Effect": "Allow", "Action": "ec2:DeleteTags", "Resource": "*",
         "Condition": {"Null": {"aws:ResourceTag/owner": "false"},
                       "ForAllValues:StringNotLike": {"aws:TagKeys": ["kubernetes.io/*"]}}},
        {"Effect": "Deny", "Action": "ec2:*", "Resource": "arn:x:denied"},
    ]}}
    assert may(doc, "ec2:CreateTags", "arn:x:y")  # a missing key satisfies a negated operator
    assert not may(doc, "ec2:CreateTags", "arn:x:y", tags={"role": "etcd"})
    assert not may(doc, "ec2:CreateTags", "arn:x:denied")  # explicit deny wins
    assert not may(doc, "ec2:DeleteTags", "arn:x:y", request_tags={"a": "b"})
    assert may(doc, "ec2:DeleteTags", "arn:x:y", tags={"owner": "me"}, request_tags={"a": "b"})
    assert not may(doc, "ec2:DeleteTags", "arn:x:y", tags={"owner": "me"},
                   request_tags={"a": "b", "kubernetes.io/cluster/x": "owned"})
    assert not may(doc, "ec2:RunInstances", "arn:x:y")  # implicit deny


# -- every broad or conditional statement is reviewed ---------------------------------------

#: (role, Sid) -> why the statement may use "*" or what its condition keeps out.
REVIEWED = {
    ("controller", "DescribeIsNotResourceScoped"):
        "Describe* and kms:DescribeKey: read-only; most Describe actions take no resource",
    ("worker", "KubeletLearnsItsInstance"): "read-only EC2 describes, no resource-level scoping",
    ("controller", "CreateLoadBalancersTargetGroupsAndSecurityGroups"):
        "creates new resources; their tags are guarded by the tagging statements",
    ("controller", "TagSecurityGroupsOnlyInTheCallThatCreatesThem"):
        "ec2:CreateAction = CreateSecurityGroup and the request names this cluster",
    ("controller", "TagLoadBalancersOnlyInTheCallThatCreatesThem"):
        "elasticloadbalancing:CreateAction and the request names this cluster",
    ("controller", "AddServiceTagsToItsOwnLoadBalancers"):
        "only the CCM's own LBs (cluster + service-name tags), never kubernetes.io/* or kopsgen.io/* keys",
    ("controller", "ChangeThisClustersSecurityGroupsButNotEtcds"):
        "only security groups this cluster owns, never etcd's",
    ("controller", "ChangeOnlyTheLoadBalancersItCreated"):
        "only LBs, listeners and target groups the CCM created (cluster + service-name tags)",
    ("controller", "CreateVolumesTaggedForThisCluster"): "the new volume must name this cluster",
    ("controller", "CreateSnapshotsTaggedForThisCluster"): "the new snapshot must name this cluster",
    ("controller", "CreateVolumesFromThisClustersSnapshotsOnly"): "source snapshot owned by this cluster",
    ("controller", "SnapshotOnlyTheDriversVolumes"): "source volume made by this cluster's driver",
    ("controller", "TagOnlyInTheCallThatCreates"): "ec2:CreateAction = CreateVolume/CreateSnapshot",
    ("controller", "AttachDetachModifyDeleteOnlyTheDriversVolumes"):
        "only this cluster's driver volumes (etcd data volumes lack ebs.csi.aws.com/cluster)",
    ("controller", "DeleteOnlyTheDriversSnapshots"): "only this cluster's driver snapshots",
    ("controller", "AttachToThisClustersNodesButNotEtcdMembers"):
        "instances of this cluster with kopsgen.io/role controller or worker",
    ("controller", "DescribeInstances"):
        "the node termination handler's read-only lookups (instance -> group, group tags, "
        "instance -> node name); AWS scopes none of these three to a resource",
    ("controller", "GrantEC2UseOfTheClusterKeyForVolumes"): "grants for AWS resources, through EC2",
    ("controller", "EncryptVolumesWithTheClusterKeyThroughEC2Only"): "kms:ViaService = EC2",
    ("etcd", "PutEtcdSnapshotsEncryptedWithTheClusterKey"):
        "s3:PutObject below backups/etcd/ only, and only with SSE-KMS under the cluster key",
    ("etcd", "EncryptEtcdSnapshotsThroughS3Only"):
        "kms:GenerateDataKey through S3, for the bucket (Bucket Keys) or backups/etcd/ objects",
    **{(role, "DecryptOwnRoleAssetsThroughS3Only"):
       "kms:ViaService = S3 and the encryption context names the role's own objects"
       for role in ("etcd", "controller", "worker")},
}


def test_every_broad_or_conditional_statement_is_reviewed(policies):
    seen = set()
    for role, documents in policies.items():
        for name, doc in documents.items():
            for s in doc["Statement"]:
                assert s["Effect"] == "Allow" and s.get("Sid"), (role, name, s)
                broad = "*" in _values(s["Resource"])
                if broad or "Condition" in s:
                    assert (role, s["Sid"]) in REVIEWED, f"{role}/{name}: unreviewed {s['Sid']}"
                    seen.add((role, s["Sid"]))
                if broad and "Condition" not in s:
                    # Unconditioned "*" only for reads and for creating new resources.
                    for a in _values(s["Action"]):
                        verb = a.split(":")[1]
                        assert verb.startswith(("Describe", "Create")), (role, s["Sid"], a)
                        assert a != "ec2:CreateTags" and a != "elasticloadbalancing:AddTags"
    assert seen == set(REVIEWED), set(REVIEWED) - seen


def test_tagging_only_in_the_creating_call_or_on_own_resources(policies):
    for documents in policies.values():
        for doc in documents.values():
            for s in doc["Statement"]:
                actions = _values(s["Action"])
                cond = s.get("Condition", {})
                if "ec2:CreateTags" in actions:
                    assert "ec2:CreateAction" in cond.get("StringEquals", {}), s["Sid"]
                if "elasticloadbalancing:AddTags" in actions:
                    equals = cond.get("StringEquals", {})
                    assert ("elasticloadbalancing:CreateAction" in equals or (
                        equals.get(f"aws:ResourceTag/kubernetes.io/cluster/{CLUSTER}") == "owned"
                        and "kubernetes.io/*" in cond["ForAllValues:StringNotLike"]["aws:TagKeys"]
                    )), s["Sid"]
                if "kms:CreateGrant" in actions:
                    assert cond.get("Bool", {}).get("kms:GrantIsForAWSResource") == "true"
                if any(a.startswith("kms:") and a != "kms:DescribeKey" for a in actions):
                    assert s["Resource"] == KEY, s["Sid"]
                    assert "kms:ViaService" in cond.get("StringEquals", {}), s["Sid"]


# -- the ways around the cluster boundary, asked directly -----------------------------------


def test_controller_cannot_claim_a_foreign_security_group_and_then_open_it(policies):
    c = policies["controller"]
    # The bypass: tag an account's security group as this cluster's, then open it.
    assert not may(c, "ec2:CreateTags", FOREIGN_SG, request_tags=OWNED)
    assert not may(c, "ec2:CreateTags", FOREIGN_SG, tags={"Name": "prod-db"}, request_tags=OWNED)
    assert not may(c, "ec2:AuthorizeSecurityGroupIngress", FOREIGN_SG, tags={"Name": "prod-db"})
    assert not may(c, "ec2:DeleteSecurityGroup", FOREIGN_SG)
    # Another cluster's group is no more reachable.
    assert not may(c, "ec2:AuthorizeSecurityGroupIngress", FOREIGN_SG,
                   tags={"kubernetes.io/cluster/other": "owned"})
    # What the CCM does: tag a group in the call that creates it, then change its own groups.
    assert may(c, "ec2:CreateSecurityGroup", SG)
    assert may(c, "ec2:CreateTags", SG, request_tags={**OWNED, "Name": "k8s-elb-a1b2"},
               ec2_CreateAction="CreateSecurityGroup")
    assert not may(c, "ec2:CreateTags", SG, request_tags={"kubernetes.io/cluster/other": "owned"},
                   ec2_CreateAction="CreateSecurityGroup")
    for action in ("ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress",
                   "ec2:DeleteSecurityGroup"):
        assert may(c, action, SG, tags=OWNED), action
        assert may(c, action, SG, tags={**OWNED, "kopsgen.io/role": "worker"}), action
        assert not may(c, action, SG, tags={**OWNED, "kopsgen.io/role": "etcd"}), action
    # No tag of an existing group may change: the ownership tag least of all.
    assert not may(c, "ec2:CreateTags", SG, tags=OWNED, request_tags={"kopsgen.io/role": "worker"})


def test_controller_cannot_claim_a_foreign_load_balancer_and_then_delete_it(policies):
    c = policies["controller"]
    for arn in (LB, TG):
        assert not may(c, "elasticloadbalancing:AddTags", arn, request_tags=OWNED)
        assert not may(c, "elasticloadbalancing:AddTags", arn, tags={"team": "payments"},
                       request_tags={**OWNED, "kubernetes.io/service-name": "x/y"})
    assert not may(c, "elasticloadbalancing:DeleteLoadBalancer", LB, tags={"team": "payments"})
    assert not may(c, "elasticloadbalancing:CreateListener", LB, tags={"team": "payments"})
    assert not may(c, "elasticloadbalancing:RegisterTargets", TG, tags={"team": "payments"})
    # kopsgen's own API load balancer carries the cluster tag (provider default_tags) but no
    # service name: the CCM may neither change it nor give it one.
    api = OWNED
    assert not may(c, "elasticloadbalancing:DeleteLoadBalancer", LB, tags=api)
    assert not may(c, "elasticloadbalancing:RegisterTargets", TG, tags=api)
    assert not may(c, "elasticloadbalancing:AddTags", LB, tags=api,
                   request_tags={"kubernetes.io/service-name": "x/y"})
    # What the CCM does for a Service of type LoadBalancer.
    for create in ("CreateLoadBalancer", "CreateTargetGroup", "CreateListener"):
        assert may(c, "elasticloadbalancing:AddTags", LB, request_tags=SERVICE_LB_TAGS,
                   elasticloadbalancing_CreateAction=create), create
    assert not may(c, "elasticloadbalancing:AddTags", LB, request_tags={"a": "b"},
                   elasticloadbalancing_CreateAction="CreateLoadBalancer")
    assert may(c, "elasticloadbalancing:AddTags", LB, tags=SERVICE_LB_TAGS,
               request_tags={"cost-center": "42"})  # the additional-resource-tags annotation
    assert not may(c, "elasticloadbalancing:AddTags", LB, tags=SERVICE_LB_TAGS,
                   request_tags={"kubernetes.io/cluster/other": "owned"})
    for action in ("DeleteLoadBalancer", "CreateListener", "ModifyListener", "RegisterTargets",
                   "DeregisterTargets", "ModifyTargetGroup", "ConfigureHealthCheck",
                   "RegisterInstancesWithLoadBalancer", "ApplySecurityGroupsToLoadBalancer"):
        assert may(c, f"elasticloadbalancing:{action}", LB, tags=SERVICE_LB_TAGS), action


def test_no_role_can_modify_instances_and_volumes_reach_no_etcd_member(policies):
    etcd_member = {**OWNED, "Name": "k8s-etcd0", "kopsgen.io/role": "etcd"}
    etcd_data = {**OWNED, "Name": "k8s-etcd0-data"}
    for role, documents in policies.items():
        for action in ("ec2:ModifyInstanceAttribute", "ec2:CreateRoute", "ec2:StopInstances"):
            assert not may(documents, action, INSTANCE, tags=etcd_member), (role, action)
            assert not may(documents, action, INSTANCE, tags={**OWNED, "kopsgen.io/role": "worker"})
        for action in ("ec2:AttachVolume", "ec2:DetachVolume"):
            assert not may(documents, action, INSTANCE, tags=etcd_member), (role, action)
        for action in ("ec2:DetachVolume", "ec2:DeleteVolume", "ec2:ModifyVolume",
                       "ec2:CreateSnapshot", "ec2:AttachVolume"):
            assert not may(documents, action, VOLUME, tags=etcd_data), (role, action)
        # A volume cannot be made to look like the driver's after the fact.
        assert not may(documents, "ec2:CreateTags", VOLUME, tags=etcd_data,
                       request_tags={"ebs.csi.aws.com/cluster": "true"}), role
    c = policies["controller"]
    for node in ("controller", "worker"):
        node_tags = {**OWNED, "kopsgen.io/role": node}
        assert may(c, "ec2:AttachVolume", INSTANCE, tags=node_tags)
        assert may(c, "ec2:DetachVolume", INSTANCE, tags=node_tags)
    assert not may(c, "ec2:AttachVolume", INSTANCE, tags={"kopsgen.io/role": "worker"})
    for action in ("ec2:AttachVolume", "ec2:DetachVolume", "ec2:DeleteVolume", "ec2:ModifyVolume",
                   "ec2:CreateSnapshot"):
        assert may(c, action, VOLUME, tags=DRIVER_TAGS), action
        # Another cluster's driver volumes share ebs.csi.aws.com/cluster=true, nothing else.
        other = {"ebs.csi.aws.com/cluster": "true", "kubernetes.io/cluster/other": "owned"}
        assert not may(c, action, VOLUME, tags=other), action


def test_the_ebs_csi_driver_creates_only_volumes_that_name_this_cluster(policies):
    c = policies["controller"]
    assert may(c, "ec2:CreateVolume", VOLUME, request_tags=DRIVER_TAGS)
    assert may(c, "ec2:CreateTags", VOLUME, request_tags=DRIVER_TAGS, ec2_CreateAction="CreateVolume")
    assert not may(c, "ec2:CreateVolume", VOLUME, request_tags={"ebs.csi.aws.com/cluster": "true"})
    assert not may(c, "ec2:CreateTags", VOLUME, tags=DRIVER_TAGS, request_tags={"a": "b"})
    # Restoring is only from this cluster's snapshots: not from another cluster's etcd backup.
    assert may(c, "ec2:CreateVolume", SNAPSHOT, tags=DRIVER_TAGS)
    assert not may(c, "ec2:CreateVolume", SNAPSHOT, tags={"kubernetes.io/cluster/other": "owned"})
    assert not may(c, "ec2:CreateVolume", SNAPSHOT, request_tags=DRIVER_TAGS)
    assert may(c, "ec2:CreateSnapshot", SNAPSHOT, request_tags=DRIVER_TAGS)
    assert not may(c, "ec2:CreateSnapshot", SNAPSHOT, request_tags={"ebs.csi.aws.com/cluster": "true"})
    assert may(c, "ec2:DeleteSnapshot", SNAPSHOT, tags=DRIVER_TAGS)
    assert not may(c, "ec2:DeleteSnapshot", SNAPSHOT, tags={"ebs.csi.aws.com/cluster": "true"})


def test_the_cluster_key_is_usable_only_through_s3_for_own_objects_and_ec2_for_volumes(policies):
    s3 = f"s3.{REGION}.amazonaws.com"
    bucket = f"arn:aws:s3:::{BUCKET}"
    own = {"etcd": "credentials/etcd/ca.pem", "controller": "userdata/controllers/cloud-config-controller",
           "worker": "userdata/pools/default/cloud-config-worker"}
    for role, documents in policies.items():
        obj = f"{bucket}/{PREFIX}/{own[role]}"
        assert may(documents, "s3:GetObject", obj)
        assert may(documents, "kms:Decrypt", KEY, kms_ViaService=s3, kms_EncryptionContext__aws__s3__arn=obj)
        # With S3 Bucket Keys (the assets bucket's default) the context is the bucket's ARN.
        assert may(documents, "kms:Decrypt", KEY, kms_ViaService=s3,
                   kms_EncryptionContext__aws__s3__arn=bucket)
        # Not directly, not for another role's objects, not for another bucket's.
        assert not may(documents, "kms:Decrypt", KEY), role
        if role != "controller":  # the controller's EBS CSI driver encrypts volumes through EC2
            assert not may(documents, "kms:Decrypt", KEY, kms_ViaService=f"ec2.{REGION}.amazonaws.com")
        for other, path in own.items():
            if other != role:
                foreign = f"{bucket}/{PREFIX}/{path}"
                assert not may(documents, "s3:GetObject", foreign), (role, other)
                assert not may(documents, "kms:Decrypt", KEY, kms_ViaService=s3,
                               kms_EncryptionContext__aws__s3__arn=foreign), (role, other)
        assert not may(documents, "kms:Decrypt", KEY, kms_ViaService=s3,
                       kms_EncryptionContext__aws__s3__arn="arn:aws:s3:::elsewhere/x"), role
        assert not may(documents, "ecr:BatchGetImage", "*"), role
    c = policies["controller"]
    ec2 = f"ec2.{REGION}.amazonaws.com"
    assert may(c, "kms:CreateGrant", KEY, kms_ViaService=ec2, kms_GrantIsForAWSResource="true")
    assert not may(c, "kms:CreateGrant", KEY, kms_ViaService=ec2)
    assert not may(c, "kms:CreateGrant", KEY, kms_GrantIsForAWSResource="true")
    assert may(c, "kms:GenerateDataKeyWithoutPlaintext", KEY, kms_ViaService=ec2)
    assert not may(c, "kms:GenerateDataKeyWithoutPlaintext", KEY)


# -- what the policies rely on elsewhere ----------------------------------------------------


def test_the_tags_the_policies_rely_on_are_set():
    """kopsgen.io/role on the instances and node security groups, the cluster tag on what the
    driver creates, and no route controller (its permissions are left out)."""
    modules = REPO / "modules"
    etcd = (modules / "etcd" / "members.tf").read_text()
    member = etcd[etcd.index('resource "aws_instance" "member"'):]
    member = member[:member.index("\n}\n")]
    assert re.search(r'"kopsgen\.io/role"\s*=\s*"etcd"', member)
    for module, role in (("controllers/controllers.tf", "controller"), ("nodepool/workers.tf", "worker")):
        text = (modules / module).read_text()
        spec = text[text.index('dynamic "tag_specifications"'):]
        assert re.search(rf'"kopsgen\.io/role"\s*=\s*"{role}"', spec[:spec.index("\n  }\n")]), module
    groups = (modules / "network" / "security_groups.tf").read_text()
    for role in ("etcd", "controller", "worker"):
        block = groups[groups.index(f'resource "aws_security_group" "{role}"'):]
        assert re.search(rf'"kopsgen\.io/role"\s*=\s*"{role}"', block[:block.index("\n}\n")]), role
    addons = REPO / "kopsgen" / "templates" / "cloudconfig" / "addons"
    ebs = (addons / "aws-ebs-csi-driver.yaml").read_text()
    assert "- --k8s-tag-cluster-id={{ cluster_name }}" in ebs
    ccm = (addons / "aws-cloud-controller-manager.yaml").read_text()
    assert "- --configure-cloud-routes=false" in ccm


def test_the_termination_handler_drains_only_this_clusters_groups_from_its_own_queue(policies):
    controller = policies["controller"]
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage"):
        assert may(controller, action, QUEUE)
        assert not may(controller, action, QUEUE.replace("k8s-node", "other-node"))
    assert not may(controller, "sqs:SendMessage", QUEUE)
    for group in ("k8s-controller", "k8s-nodepool1"):
        assert may(controller, "autoscaling:CompleteLifecycleAction", group_arn(group))
    # Another cluster whose name starts with this one's ("k8s-prod-nodepool1") is not ours.
    for foreign in ("k8s-prod-nodepool1", "other-controller"):
        assert not may(controller, "autoscaling:CompleteLifecycleAction", group_arn(foreign))
    assert not may(controller, "autoscaling:CompleteLifecycleAction",
                   group_arn("k8s-controller").replace(ACCOUNT, "444455556666"))
    # Only the controllers run the handler.
    for role in ("etcd", "worker"):
        assert not may(policies[role], "sqs:ReceiveMessage", QUEUE)
        assert not may(policies[role], "autoscaling:CompleteLifecycleAction",
                       group_arn("k8s-nodepool1"))


# -- the etcd snapshots (docs/etcd.md "Backups") --------------------------------------------


def test_etcd_members_may_only_put_encrypted_snapshots_below_their_prefix(policies):
    """Least privilege for kopsgen-etcd-backup: PutObject below backups/etcd/, with SSE-KMS
    under the cluster key, and nothing else there -- a member (or whoever holds its role)
    can neither read, list nor delete the snapshots, nor write anywhere else."""
    e = policies["etcd"]
    s3 = f"s3.{REGION}.amazonaws.com"
    bucket = f"arn:aws:s3:::{BUCKET}"
    snap = f"{bucket}/{PREFIX}/backups/etcd/20261201T100000Z-etcd0-{'0' * 64}.db"
    sse = {"s3_x-amz-server-side-encryption": "aws:kms",
           "s3_x-amz-server-side-encryption-aws-kms-key-id": KEY}
    assert may(e, "s3:PutObject", snap, **sse)
    assert not may(e, "s3:PutObject", snap)  # unencrypted
    assert not may(e, "s3:PutObject", snap, **{**sse, "s3_x-amz-server-side-encryption": "AES256"})
    assert not may(e, "s3:PutObject", snap, **{**sse, "s3_x-amz-server-side-encryption-aws-kms-key-id":
                                               f"arn:aws:kms:{REGION}:{ACCOUNT}:key/other"})
    for elsewhere in ("credentials/etcd/ca.pem", "userdata/etcd/members", "backups/other/x",
                      "backups/etcd"):
        assert not may(e, "s3:PutObject", f"{bucket}/{PREFIX}/{elsewhere}", **sse), elsewhere
    assert not may(e, "s3:PutObject", f"arn:aws:s3:::elsewhere/{PREFIX}/backups/etcd/x", **sse)
    for action in ("s3:GetObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObjectVersion",
                   "s3:PutObjectAcl", "s3:PutLifecycleConfiguration"):
        assert not may(e, action, snap), action
    assert not may(e, "s3:ListBucket", bucket)
    # Encrypting a new snapshot: the data key through S3 only, for backups/etcd/ objects.
    assert may(e, "kms:GenerateDataKey", KEY, kms_ViaService=s3, kms_EncryptionContext__aws__s3__arn=snap)
    assert not may(e, "kms:GenerateDataKey", KEY)
    assert not may(e, "kms:GenerateDataKey", KEY, kms_ViaService=s3,
                   kms_EncryptionContext__aws__s3__arn=f"{bucket}/{PREFIX}/credentials/etcd/ca.pem")
    assert not may(e, "kms:Decrypt", KEY, kms_ViaService=s3, kms_EncryptionContext__aws__s3__arn=snap)
    # The controllers and workers have no part in it.
    for role in ("controller", "worker"):
        assert not may(policies[role], "s3:PutObject", snap, **sse), role
        assert not may(policies[role], "s3:GetObject", snap), role


def test_a_restore_lets_etcd_read_that_one_snapshot_and_nothing_else(policies, restore_policies):
    e, r = policies["etcd"], restore_policies["etcd"]
    s3 = f"s3.{REGION}.amazonaws.com"
    bucket = f"arn:aws:s3:::{BUCKET}"
    snap = f"{bucket}/{PREFIX}/{RESTORE}"
    other = f"{bucket}/{PREFIX}/backups/etcd/20261201T090000Z-etcd1-{'cd' * 32}.db"
    assert not may(e, "s3:GetObject", snap)  # only while a restore is set
    assert may(r, "s3:GetObject", snap)
    assert may(r, "kms:Decrypt", KEY, kms_ViaService=s3, kms_EncryptionContext__aws__s3__arn=snap)
    assert not may(r, "kms:Decrypt", KEY)
    assert not may(r, "s3:GetObject", other)
    assert not may(r, "kms:Decrypt", KEY, kms_ViaService=s3, kms_EncryptionContext__aws__s3__arn=other)
    assert not may(r, "s3:DeleteObject", snap)
    assert not may(r, "s3:ListBucket", bucket)
    # The restore adds exactly those two statements; every other role is unchanged.
    sids = {s["Sid"] for d in r.values() for s in d["Statement"]} - \
        {s["Sid"] for d in e.values() for s in d["Statement"]}
    assert sids == {"ReadTheRestoreSnapshot", "DecryptTheRestoreSnapshotThroughS3Only"}
    assert restore_policies["controller"] == policies["controller"]
    assert restore_policies["worker"] == policies["worker"]
