"""Every release the rendered files pin is in the one table of pins (kopsgen/pins.py), with
where it was checked to exist; every image there is pinned by digest unless it says why
not; and nothing in the table is unused."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
import yaml
from test_cloudconfig import PARAMS  # noqa: I001 - the shared parameters of the renders

from kopsgen.pins import PINS
from kopsgen.render.cloudconfig import ROLES, SUPPORTED_MINORS, render_cloudconfigs
from kopsgen.spec import model

#: Images that follow the cluster's kubernetesVersion (PINS["kubernetes"] says why by tag).
FOLLOWS_KUBERNETES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler",
                      "kube-proxy")


def pinned(minor: str) -> tuple[set[str], set[str]]:
    """(image references, versions of downloaded binaries) of every role's cloud-config."""
    version = f"v{minor}.0"
    images, versions = set(), set()
    for role in ROLES:
        text = render_cloudconfigs(replace(PARAMS, kubernetes_version=version))[
            f"userdata/cloud-config-{role}"].decode()
        config = yaml.safe_load(text)
        for f in config["write_files"]:
            images |= set(re.findall(r"^\s*-?\s*image: (\S+)$", f["content"], re.M))
            images |= set(re.findall(r'^\s*sandbox_image = "(\S+)"$', f["content"], re.M))
        for unit in config["coreos"]["units"]:
            for line in unit.get("content", "").splitlines():
                if line.startswith("ExecStart=/opt/bin/kopsgen-retry /opt/bin/kopsgen-install-"):
                    versions |= {w for w in line.split() if re.fullmatch(r"v\d+\.\d+\.\d+", w)}
    kube = {i for i in images if i.split(":")[0].rsplit("/", 1)[-1] in FOLLOWS_KUBERNETES}
    assert {i.split(":", 1)[1] for i in kube} == {version}
    versions.discard(version)
    return images - kube, versions


@pytest.mark.parametrize("minor", SUPPORTED_MINORS)
def test_every_image_and_binary_a_node_fetches_is_a_pin(minor: str) -> None:
    images, versions = pinned(minor)
    refs = {p.ref for p in PINS.values() if p.image}
    assert images <= refs, images - refs
    assert versions <= {p.version for p in PINS.values() if not p.image}, versions
    assert PINS[f"cloud-controller-manager-{minor}"].ref in images


def test_every_pin_is_used_and_says_where_it_was_checked() -> None:
    used: set[str] = set()
    for minor in SUPPORTED_MINORS:
        images, versions = pinned(minor)
        used |= images | versions
    for name, pin in PINS.items():
        assert len(pin.checked) > 20, name
        if pin.image:
            assert pin.ref in used, f"{name} is pinned but no node uses it"
            if pin.digest:
                assert re.fullmatch(r"sha256:[0-9a-f]{64}", pin.digest), name
            else:
                assert pin.why_no_digest, f"{name}: an image without a digest must say why"
    assert PINS["kubernetes"].version == model.DEFAULT_KUBERNETES_VERSION
    assert PINS["etcd"].version == model.ETCD_VERSION
    assert {PINS["etcd"].version, PINS["cni-plugins"].version} <= used


def test_most_images_are_pinned_by_digest() -> None:
    images, _ = pinned("1.34")
    # flannel's releases and the node termination handler's (public.ecr.aws) publish none.
    assert [i for i in images if "@sha256:" not in i] == [
        i for i in images if i.startswith(("ghcr.io/flannel-io/",
                                           "public.ecr.aws/aws-ec2/aws-node-termination-handler:"))]
