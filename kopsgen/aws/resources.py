"""Leftovers: what ``destroy`` finds still tagged as the cluster's."""

from __future__ import annotations

from typing import Any

from kopsgen.aws.errors import asking, client_error, error_code
from kopsgen.aws.session import AwsClients

#: States of things that are on their way out and no longer count as leftovers.
LIVE_INSTANCE_STATES = ["pending", "running", "shutting-down", "stopping", "stopped"]
LIVE_NAT_STATES = ["pending", "available", "deleting", "failed"]
GONE_KMS_STATES = ("PendingDeletion", "PendingReplicaDeletion")


def tagged_resources(clients: AwsClients, cluster_name: str) -> list[str]:
    """ARNs of everything in the region still tagged ``kubernetes.io/cluster/<name>``.

    Terminated instances, deleted NAT gateways and KMS keys scheduled for deletion are gone
    as far as ``destroy`` is concerned and are left out. Raises :class:`AwsCheckError` when
    AWS cannot be asked: "nothing left" must never mean "could not look".
    """
    tag = f"kubernetes.io/cluster/{cluster_name}"
    with asking(f"list resources tagged {tag} in {clients.region}"):
        return _tagged_resources(clients, tag)


def _tagged_resources(aws: AwsClients, tag: str) -> list[str]:
    ident = aws.client("sts").get_caller_identity()
    partition = ident["Arn"].split(":")[1]
    prefix = f"arn:{partition}:ec2:{aws.region}:{ident['Account']}"
    ec2 = aws.client("ec2")
    has_tag = {"Name": "tag-key", "Values": [tag]}

    def ec2_ids(call: str, key: str, id_key: str, extra: list[dict[str, Any]] | None = None) -> list[str]:
        pages = ec2.get_paginator(call).paginate(Filters=[has_tag, *(extra or [])])
        if call == "describe_instances":
            return [i[id_key] for p in pages for r in p["Reservations"] for i in r["Instances"]]
        return [item[id_key] for p in pages for item in p[key]]

    # The direct looks are the truth for these types: what they leave out is gone.
    direct = {
        "instance": ec2_ids("describe_instances", "Reservations", "InstanceId",
                            [{"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}]),
        "volume": ec2_ids("describe_volumes", "Volumes", "VolumeId"),
        "vpc": ec2_ids("describe_vpcs", "Vpcs", "VpcId"),
        "natgateway": ec2_ids("describe_nat_gateways", "NatGateways", "NatGatewayId",
                              [{"Name": "state", "Values": LIVE_NAT_STATES}]),
    }
    found = {f"{prefix}:{kind}/{i}" for kind, ids in direct.items() for i in ids}

    asg_pages = aws.client("autoscaling").get_paginator("describe_auto_scaling_groups").paginate(
        Filters=[{"Name": "tag-key", "Values": [tag]}])
    found.update(g["AutoScalingGroupARN"] for p in asg_pages for g in p["AutoScalingGroups"])

    elbv2 = aws.client("elbv2")
    lbs = [lb["LoadBalancerArn"] for p in elbv2.get_paginator("describe_load_balancers").paginate()
           for lb in p["LoadBalancers"]]
    for start in range(0, len(lbs), 20):  # describe_tags takes at most 20 ARNs
        for desc in elbv2.describe_tags(ResourceArns=lbs[start:start + 20])["TagDescriptions"]:
            if any(t["Key"] == tag for t in desc.get("Tags", [])):
                found.add(desc["ResourceArn"])

    kms = aws.client("kms")
    pages = aws.client("resourcegroupstaggingapi").get_paginator("get_resources").paginate(
        TagFilters=[{"Key": tag}])
    for page in pages:
        for mapping in page["ResourceTagMappingList"]:
            arn = mapping["ResourceARN"]
            kind = arn.split(":", 5)[-1].partition("/")[0]
            if arn.startswith(prefix + ":") and kind in direct:
                continue  # already decided by the direct look
            if arn.split(":")[2] == "kms" and kind == "key" and _kms_key_gone(kms, arn):
                continue
            found.add(arn)
    return sorted(found)


def _kms_key_gone(kms: Any, arn: str) -> bool:
    try:
        state = kms.describe_key(KeyId=arn)["KeyMetadata"].get("KeyState")
    except client_error() as exc:
        if error_code(exc) == "NotFoundException":
            return True
        raise
    return state in GONE_KMS_STATES
