"""Every release kopsgen pins -- container images, binaries, the default versions -- in one
table, each with where it was checked to exist (tests/unit/test_pins.py fails on a pin the
rendered files use that is not here, and on an entry here that nothing uses).

Images are pinned by digest where the digest is published: the multi-arch manifest-list
digest from the registry.k8s.io promoter manifests (kubernetes/k8s.io,
registry.k8s.io/images/k8s-staging-<project>/images.yaml). Two kinds are pinned by tag
only, and say why: the control-plane images and binaries, which follow the cluster's
kubernetesVersion (any patch release the user names), and images whose registry publishes
no digest list (flannel on ghcr.io). A leaf: nothing here imports the rest of kopsgen.
"""

from __future__ import annotations

from dataclasses import dataclass

PROMOTER = "kubernetes/k8s.io registry.k8s.io/images/k8s-staging-{}/images.yaml"


@dataclass(frozen=True)
class Pin:
    version: str
    checked: str  # where the release was confirmed to exist (and its digest read)
    image: str | None = None  # repository, for a container image
    digest: str | None = None  # sha256:... of the manifest list, where published
    why_no_digest: str = ""

    @property
    def ref(self) -> str:
        """The image reference nodes pull: repository:tag, @digest where there is one."""
        assert self.image is not None
        return f"{self.image}:{self.version}" + (f"@{self.digest}" if self.digest else "")


PINS: dict[str, Pin] = {
    # -- versions that follow no image digest -----------------------------------------------
    "kubernetes": Pin(
        "v1.34.2", "kubernetes/kubernetes CHANGELOG/CHANGELOG-1.34.md @008b3652 (v1.34.2, its "
        "container images and dl.k8s.io binaries); the default kubernetesVersion. The "
        "kube-* images and kubelet/kubectl follow the cluster's version, so they are pinned "
        "by tag (binaries are checked against dl.k8s.io's .sha256 on the node)"),
    "etcd": Pin(
        "v3.5.21", "etcd-io/etcd release v3.5.21 (CHANGELOG-3.5 'v3.5.21 (2025-03-27)'; "
        "etcd-v3.5.21-linux-amd64.tar.gz sha256 adddda4b... in kubespray checksums.yml "
        "@005bdce7); the node checks the release's SHA256SUMS"),
    "cni-plugins": Pin(
        "v1.6.2", "containernetworking/plugins release v1.6.2 (cni-plugins-linux-amd64-"
        "v1.6.2.tgz sha256 b8e81157... in kubespray checksums.yml @005bdce7; scripts/"
        "release.sh writes the .sha256 the node checks)"),
    # -- the AWS cloud-controller-manager, one per Kubernetes minor --------------------------
    # Its GitHub releases are not all images (v1.33.3, v1.34.1, v1.35.1 and v1.36.0 failed
    # to build, kubernetes/k8s.io#9796): pick tags from the promoter manifest.
    "cloud-controller-manager-1.33": Pin(
        "v1.33.4", PROMOTER.format("provider-aws") + " @0137eda2",
        "registry.k8s.io/provider-aws/cloud-controller-manager",
        "sha256:b54bc094711e9d7ace6c9bab3d6f02a598e7570ac1fedd6341940e1de79ea476"),
    "cloud-controller-manager-1.34": Pin(
        "v1.34.3", PROMOTER.format("provider-aws") + " @0137eda2 (kpromo kubernetes/k8s.io#9580)",
        "registry.k8s.io/provider-aws/cloud-controller-manager",
        "sha256:ab45cec4a1ee68a556d09a362746db8fd66b258101aefcf0542f51e960248810"),
    "cloud-controller-manager-1.35": Pin(
        "v1.35.2", PROMOTER.format("provider-aws") + " @0137eda2",
        "registry.k8s.io/provider-aws/cloud-controller-manager",
        "sha256:5a5d4e5942ad078a184c12bf5435f8226ccb157ee15e9e1f87c183a4bf4b8f1a"),
    "cloud-controller-manager-1.36": Pin(
        "v1.36.1", "promoted by kubernetes/k8s.io#9796 (merged 2026-07-30, 'the only usable "
        "release of the 1.36 branch')",
        "registry.k8s.io/provider-aws/cloud-controller-manager", None,
        why_no_digest="promoted after the newest promoter manifest kopsgen was checked "
        "against (@0137eda2); pin its digest when that manifest is read again"),
    # -- add-ons and the node's own images ---------------------------------------------------
    "pause": Pin(
        "3.10.1", PROMOTER.format("kubernetes") + " @ecf019a8", "registry.k8s.io/pause",
        "sha256:278fb9dbcca9518083ad1e11276933a2e96f23de604a3a08cc3c80002767d24c"),
    "coredns": Pin(
        "v1.12.1", PROMOTER.format("coredns") + " @9a1bd547", "registry.k8s.io/coredns/coredns",
        "sha256:e8c262566636e6bc340ece6473b0eed193cad045384401529721ddbe6463d31c"),
    "flannel": Pin(
        "v0.26.7", "flannel-io/flannel release v0.26.7 (k3s-io/k3s#12155 'Bump flannel to "
        "v0.26.7'; manifests pairing it with flannel-cni-plugin v1.6.2-flannel1)",
        "ghcr.io/flannel-io/flannel", None,
        why_no_digest="flannel's releases publish no image digests"),
    "flannel-cni-plugin": Pin(
        "v1.6.2-flannel1", "flannel-io/cni-plugin v1.6.2-flannel1, the plugin flannel "
        "v0.26.x's kube-flannel.yml names (the bump to v1.7.1 came with flannel-io/flannel"
        "#2236, after v0.26.7)", "ghcr.io/flannel-io/flannel-cni-plugin", None,
        why_no_digest="flannel's releases publish no image digests"),
    "ebs-csi-driver": Pin(
        "v1.47.0", "kubernetes-sigs/aws-ebs-csi-driver charts/aws-ebs-csi-driver/CHANGELOG.md "
        "(chart v2.47.0: driver v1.47.0); " + PROMOTER.format("provider-aws") + " @0137eda2",
        "registry.k8s.io/provider-aws/aws-ebs-csi-driver",
        "sha256:8d51e59e7b9860f2090f2cd32f3b6ec354efb1f4b29c3455ff0361d03a334880"),
    # The sidecars the EBS CSI driver v1.47.0 release was built and tested with (its chart's
    # values at v2.47.0 name the -eksbuild images of these tags).
    "csi-provisioner": Pin(
        "v5.3.0", PROMOTER.format("sig-storage") + " @0279c5e0",
        "registry.k8s.io/sig-storage/csi-provisioner",
        "sha256:bb057f866177d5f4139a1527e594499cbe0feeb67b63aaca8679dfdf0a6016f9"),
    "csi-attacher": Pin(
        "v4.9.0", PROMOTER.format("sig-storage") + " @0279c5e0",
        "registry.k8s.io/sig-storage/csi-attacher",
        "sha256:5aaefc24f315b182233c8b6146077f8c32e274d864cb03c632206e78bd0302da"),
    "csi-resizer": Pin(
        "v1.14.0", PROMOTER.format("sig-storage") + " @0279c5e0",
        "registry.k8s.io/sig-storage/csi-resizer",
        "sha256:5e7cbb63fd497fa913caa21fee1a69f727c220c6fa83c5f8bb0995e2ad73a474"),
    "csi-node-driver-registrar": Pin(
        "v2.14.0", PROMOTER.format("sig-storage") + " @0279c5e0",
        "registry.k8s.io/sig-storage/csi-node-driver-registrar",
        "sha256:5244abbe87e01b35adeb8bb13882a74785df0c0619f8325c9e950395c3f72a97"),
    "csi-livenessprobe": Pin(
        "v2.16.0", PROMOTER.format("sig-storage") + " @0279c5e0",
        "registry.k8s.io/sig-storage/livenessprobe",
        "sha256:88092d100909918ae0a768956cf78c88bc59cd7232720f7cdbdfb5d2e235001e"),
    "node-termination-handler": Pin(
        "v1.25.3", "aws/aws-node-termination-handler release v1.25.3 (image in the "
        "public.ecr.aws/aws-ec2 gallery; openshift/hypershift pins the same tag as its "
        "DefaultAWSNodeTerminationHandlerImage); config keys read in its pkg/config/config.go",
        "public.ecr.aws/aws-ec2/aws-node-termination-handler", None,
        why_no_digest="its releases publish no image digest; pin it when one is read off "
        "the registry"),
}

DEFAULT_KUBERNETES_VERSION = PINS["kubernetes"].version
ETCD_VERSION = PINS["etcd"].version
CNI_PLUGINS_VERSION = PINS["cni-plugins"].version
