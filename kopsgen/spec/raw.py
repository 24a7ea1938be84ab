"""The cluster.yaml file as written: every accepted key, in the kube-aws v0.9.x dialect.

These models only check shapes and types (strictly: ``count: "4"`` is an error, as it was
in kube-aws). Defaults, the flat-vs-nested forms kube-aws allowed (``controllerCount`` and
``controller.count``) and all cross-field rules are resolved in :mod:`kopsgen.spec.builder`.
The JSON Schema printed by ``kopsgen schema`` is generated from :class:`ClusterFile`.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

Tenancy = Literal["default", "dedicated"]
ReleaseChannel = Literal["stable", "beta", "alpha", "lts"]
TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
KeyAlgorithm = Literal["ecdsa-p256", "rsa-2048"]


class _Strict(BaseModel):
    # Unknown keys are errors (with a "did you mean" from the loader); values are typed
    # strictly so YAML quoting mistakes show up here and not in AWS.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=False)


def _f(alias: str, description: str, **kw):
    return Field(default=None, alias=alias, description=description, **kw)


class RawVolume(_Strict):
    size: StrictInt | None = _f("size", "Size in GiB.")
    type: StrictStr | None = _f("type", "EBS volume type: gp3 (default), gp2, io1, io2, standard.")
    iops: StrictInt | None = _f("iops", "Provisioned IOPS (io1/io2: required; gp3: optional).")


class RawDataVolume(RawVolume):
    encrypted: StrictBool | None = _f("encrypted", "Encrypt the etcd data volume (default true).")


class RawSubnetRef(_Strict):
    name: StrictStr | None = _f("name", "Name of a subnet in the top-level `subnets`.")


class RawAutoScalingGroup(_Strict):
    minSize: StrictInt | None = _f("minSize", "Minimum number of instances.")
    maxSize: StrictInt | None = _f("maxSize", "Maximum number of instances.")
    rollingUpdateMinInstancesInService: StrictInt | None = _f(
        "rollingUpdateMinInstancesInService",
        "Instances kept in service while a rolling update replaces the others.",
    )


class RawClusterAutoscaler(_Strict):
    minSize: StrictInt | None = _f("minSize", "Lower bound cluster-autoscaler may scale the pool to.")
    maxSize: StrictInt | None = _f("maxSize", "Upper bound cluster-autoscaler may scale the pool to.")


class RawTaint(_Strict):
    key: StrictStr | None = _f("key", "Taint key, e.g. dedicated.")
    value: StrictStr | None = _f("value", "Taint value (may be empty).")
    effect: TaintEffect | None = _f("effect", "NoSchedule, PreferNoSchedule or NoExecute.")


class RawLoadBalancer(_Strict):
    private: StrictBool | None = _f(
        "private", "true: an internal load balancer in the private subnets; false: internet-facing."
    )


class RawAssets(_Strict):
    fileRepository: StrictStr | None = _f(
        "fileRepository", "Mirror of the release downloads, e.g. https://mirror.example.com/files "
        "(<fileRepository>/<host>/<path> for each upstream URL).")
    containerRegistry: StrictStr | None = _f(
        "containerRegistry", "Mirror of the container images, e.g. mirror.example.com/k8s "
        "(<containerRegistry>/<image path without its registry>).")


class RawController(_Strict):
    count: StrictInt | None = _f("count", "Number of controllers (same as controllerCount).")
    instanceType: StrictStr | None = _f("instanceType", "Same as controllerInstanceType.")
    rootVolume: RawVolume | None = _f("rootVolume", "Root volume of each controller.")
    tenancy: Tenancy | None = _f("tenancy", "Same as controllerTenancy.")
    autoScalingGroup: RawAutoScalingGroup | None = _f(
        "autoScalingGroup", "Auto Scaling group sizes (instead of count)."
    )
    loadBalancer: RawLoadBalancer | None = _f("loadBalancer", "The API load balancer.")
    subnets: list[RawSubnetRef] | None = _f("subnets", "Subnets (by name) for controllers.")
    securityGroupIds: list[StrictStr] | None = _f(
        "securityGroupIds", "Existing security groups added to controllers."
    )


class RawEtcdBackup(_Strict):
    interval: StrictStr | None = _f(
        "interval", "How often the leader saves a snapshot to S3: a systemd calendar event "
        "(hourly, daily, *-*-* 00/6:00:00) or a time span (30min, 6h); default hourly.")
    retentionDays: StrictInt | None = _f(
        "retentionDays", "Days S3 keeps each snapshot (a lifecycle rule); default 30.")


class RawEtcdRestore(_Strict):
    snapshot: StrictStr | None = _f(
        "snapshot", "Key of the snapshot (below the cluster prefix, as `kopsgen etcd backups` "
        "lists it) the members are created from; setting it replaces every member on a new "
        "data volume, keeping the old volumes (docs/etcd.md).")


class RawEtcd(_Strict):
    count: StrictInt | None = _f("count", "Number of etcd members (same as etcdCount).")
    instanceType: StrictStr | None = _f("instanceType", "Same as etcdInstanceType.")
    rootVolume: RawVolume | None = _f("rootVolume", "Root volume of each member.")
    dataVolume: RawDataVolume | None = _f("dataVolume", "The data volume of each member.")
    tenancy: Tenancy | None = _f("tenancy", "Same as etcdTenancy.")
    subnets: list[RawSubnetRef] | None = _f("subnets", "Subnets (by name) for etcd members.")
    backup: RawEtcdBackup | None = _f("backup", "Snapshots of etcd to the cluster's S3 prefix.")
    restore: RawEtcdRestore | None = _f(
        "restore", "Create the members from a snapshot (docs/etcd.md, disaster recovery).")


class RawNodePool(_Strict):
    name: StrictStr | None = _f("name", "Unique name of the pool (a DNS label).")
    count: StrictInt | None = _f("count", "Fixed number of nodes (instead of autoScalingGroup).")
    instanceType: StrictStr | None = _f("instanceType", "EC2 instance type (default workerInstanceType).")
    rootVolume: RawVolume | None = _f("rootVolume", "Root volume (default worker root volume).")
    rootVolumeSize: StrictInt | None = _f("rootVolumeSize", "Same as rootVolume.size.")
    rootVolumeType: StrictStr | None = _f("rootVolumeType", "Same as rootVolume.type.")
    rootVolumeIOPS: StrictInt | None = _f("rootVolumeIOPS", "Same as rootVolume.iops.")
    tenancy: Tenancy | None = _f("tenancy", "default or dedicated (default workerTenancy).")
    spotPrice: StrictStr | float | int | None = _f(
        "spotPrice", 'Maximum spot price in USD per hour, e.g. "0.05"; omit for on-demand.'
    )
    autoScalingGroup: RawAutoScalingGroup | None = _f(
        "autoScalingGroup", "Auto Scaling group sizes (instead of count)."
    )
    clusterAutoscaler: RawClusterAutoscaler | None = _f(
        "clusterAutoscaler", "Let cluster-autoscaler scale this pool between these bounds."
    )
    subnets: list[RawSubnetRef] | None = _f("subnets", "Subnets (by name) for this pool.")
    nodeLabels: dict[str, StrictStr] | None = _f("nodeLabels", "Kubernetes labels of the nodes.")
    taints: list[RawTaint] | None = _f("taints", "Kubernetes taints of the nodes.")
    securityGroupIds: list[StrictStr] | None = _f(
        "securityGroupIds", "Existing security groups added to the nodes."
    )
    kubernetesVersion: StrictStr | None = _f(
        "kubernetesVersion", "The pool's kubelet version, e.g. v1.34.2 (default: the "
        "cluster's kubernetesVersion); not newer than it, at most three minors older.")


class RawWorker(_Strict):
    nodePools: list[RawNodePool] | None = _f("nodePools", "The worker node pools.")


class RawSubnet(_Strict):
    name: StrictStr | None = _f("name", "Unique name, referenced by controller/etcd/pool subnets.")
    availabilityZone: StrictStr | None = _f("availabilityZone", "Zone of the subnet, e.g. us-east-1c.")
    instanceCIDR: StrictStr | None = _f("instanceCIDR", "CIDR of the subnet, inside vpcCIDR.")
    private: StrictBool | None = _f("private", "true: no public IPs, internet through a NAT gateway.")


class ClusterFile(_Strict):
    """cluster.yaml: the kube-aws v0.9.x keys plus a few modern ones."""

    model_config = ConfigDict(
        title="kopsgen cluster.yaml",
        extra="forbid",
        strict=True,
        frozen=True,
        populate_by_name=False,
    )

    clusterName: StrictStr | None = _f("clusterName", "Unique name of the cluster in the account.")
    externalDNSName: StrictStr | None = _f(
        "externalDNSName", "DNS name of the Kubernetes API, e.g. k8s.example.com."
    )
    releaseChannel: ReleaseChannel | None = _f("releaseChannel", "Flatcar release channel.")
    amiId: StrictStr | None = _f("amiId", "Explicit AMI; default: latest Flatcar of releaseChannel.")
    createRecordSet: StrictBool | None = _f(
        "createRecordSet", "Create the Route53 record for externalDNSName in hostedZoneId."
    )
    recordSetTTL: StrictInt | None = _f("recordSetTTL", "TTL in seconds of the API record.")
    hostedZoneId: StrictStr | None = _f("hostedZoneId", "Route53 hosted zone of externalDNSName.")
    keyName: StrictStr | None = _f("keyName", "Existing EC2 key pair for SSH.")
    sshAuthorizedKeys: list[StrictStr] | None = _f(
        "sshAuthorizedKeys", "Extra public keys for the core user."
    )
    region: StrictStr | None = _f("region", "AWS region, e.g. us-east-1.")
    availabilityZone: StrictStr | None = _f(
        "availabilityZone", "Single-AZ mode: the one zone (instead of subnets)."
    )
    kmsKeyArn: StrictStr | None = _f(
        "kmsKeyArn", 'KMS key for the cluster\'s secrets; "" creates one.'
    )
    controllerCount: StrictInt | None = _f("controllerCount", "Number of controllers.")
    controllerInstanceType: StrictStr | None = _f("controllerInstanceType", "Controller type.")
    controllerRootVolumeSize: StrictInt | None = _f("controllerRootVolumeSize", "GiB.")
    controllerRootVolumeType: StrictStr | None = _f("controllerRootVolumeType", "EBS type.")
    controllerRootVolumeIOPS: StrictInt | None = _f("controllerRootVolumeIOPS", "IOPS.")
    controllerTenancy: Tenancy | None = _f("controllerTenancy", "default or dedicated.")
    controller: RawController | None = _f("controller", "Controller settings (nested form).")
    worker: RawWorker | None = _f("worker", "Worker node pools.")
    workerInstanceType: StrictStr | None = _f("workerInstanceType", "Default pool instance type.")
    workerRootVolumeSize: StrictInt | None = _f("workerRootVolumeSize", "Default pool root GiB.")
    workerRootVolumeType: StrictStr | None = _f("workerRootVolumeType", "Default pool root type.")
    workerRootVolumeIOPS: StrictInt | None = _f("workerRootVolumeIOPS", "Default pool root IOPS.")
    workerTenancy: Tenancy | None = _f("workerTenancy", "Default pool tenancy.")
    workerSpotPrice: StrictStr | float | int | None = _f(
        "workerSpotPrice", "Default pool spot price."
    )
    workerSecurityGroupIds: list[StrictStr] | None = _f(
        "workerSecurityGroupIds", "Security groups added to every pool."
    )
    etcdCount: StrictInt | None = _f("etcdCount", "Number of etcd members.")
    etcdInstanceType: StrictStr | None = _f("etcdInstanceType", "etcd instance type.")
    etcdRootVolumeSize: StrictInt | None = _f("etcdRootVolumeSize", "GiB.")
    etcdRootVolumeType: StrictStr | None = _f("etcdRootVolumeType", "EBS type.")
    etcdRootVolumeIOPS: StrictInt | None = _f("etcdRootVolumeIOPS", "IOPS.")
    etcdDataVolumeSize: StrictInt | None = _f("etcdDataVolumeSize", "GiB.")
    etcdDataVolumeType: StrictStr | None = _f("etcdDataVolumeType", "EBS type.")
    etcdDataVolumeIOPS: StrictInt | None = _f("etcdDataVolumeIOPS", "IOPS.")
    etcdDataVolumeEncrypted: StrictBool | None = _f("etcdDataVolumeEncrypted", "Default true.")
    etcdTenancy: Tenancy | None = _f("etcdTenancy", "default or dedicated.")
    etcd: RawEtcd | None = _f("etcd", "etcd settings (nested form).")
    vpcId: StrictStr | None = _f("vpcId", "Deploy into this existing VPC.")
    internetGatewayId: StrictStr | None = _f("internetGatewayId", "Existing internet gateway.")
    routeTableId: StrictStr | None = _f("routeTableId", "Existing route table for the subnets.")
    mapPublicIPs: StrictBool | None = _f("mapPublicIPs", "Public IPs in public subnets.")
    vpcCIDR: StrictStr | None = _f("vpcCIDR", "CIDR of the VPC.")
    instanceCIDR: StrictStr | None = _f("instanceCIDR", "Single-AZ mode: the subnet's CIDR.")
    subnets: list[RawSubnet] | None = _f("subnets", "The cluster's subnets across zones.")
    serviceCIDR: StrictStr | None = _f("serviceCIDR", "Kubernetes service IP range.")
    podCIDR: StrictStr | None = _f("podCIDR", "Pod IP range (flannel).")
    dnsServiceIP: StrictStr | None = _f("dnsServiceIP", "Cluster DNS service IP in serviceCIDR.")
    tlsCADurationDays: StrictInt | None = _f("tlsCADurationDays", "CA validity in days.")
    tlsCertDurationDays: StrictInt | None = _f("tlsCertDurationDays", "Certificate validity.")
    tlsKeyAlgorithm: KeyAlgorithm | None = _f("tlsKeyAlgorithm", "ecdsa-p256 (default) or rsa-2048.")
    kubernetesVersion: StrictStr | None = _f("kubernetesVersion", "e.g. v1.34.2.")
    stackTags: dict[str, StrictStr | int | float | bool] | None = _f(
        "stackTags", "Tags on every AWS resource."
    )
    s3URI: StrictStr | None = _f("s3URI", "s3://bucket[/prefix] for state and assets.")
    assets: RawAssets | None = _f(
        "assets", "Mirrors nodes download binaries and images from, instead of the public ones.")
    sshAccessAllowedSourceCIDRs: list[StrictStr] | None = _f(
        "sshAccessAllowedSourceCIDRs", "Who may SSH to nodes (default: nobody)."
    )
    apiAccessAllowedSourceCIDRs: list[StrictStr] | None = _f(
        "apiAccessAllowedSourceCIDRs", "Who may reach the API (default 0.0.0.0/0)."
    )
