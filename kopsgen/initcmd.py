"""`kopsgen init`: write a commented cluster.yaml that validates as written."""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from kopsgen.errors import SpecError, UsageError, WorkspaceError
from kopsgen.spec import load_spec_text
from kopsgen.spec.model import DEFAULT_KUBERNETES_VERSION, FIRST_ZONES, SUPPORTED_MINORS

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class InitOptions:
    cluster_name: str | None
    external_dns_name: str | None
    region: str | None
    availability_zone: str | None = None
    key_name: str | None = None
    kms_key_arn: str | None = None
    hosted_zone_id: str | None = None
    s3_uri: str | None = None
    ssh_access_cidrs: tuple[str, ...] = ()


#: The flag of each key init writes: a problem with a flag's value names the flag.
FLAGS = {"clusterName": "--cluster-name", "externalDNSName": "--external-dns-name",
         "region": "--region", "availabilityZone": "--availability-zone",
         "keyName": "--key-name", "kmsKeyArn": "--kms-key-arn",
         "hostedZoneId": "--hosted-zone-id", "s3URI": "--s3-uri",
         "sshAccessAllowedSourceCIDRs": "--ssh-access-cidr"}


def flag_of(field: str) -> str:
    """``field`` as the flag that set it (``clusterName`` → ``--cluster-name``), else as is."""
    key = re.split(r"[.\[]", field, maxsplit=1)[0]
    return FLAGS.get(key, field) if key == field or field[len(key)] == "[" else field


_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*", re.ASCII)


def yaml_quoted(value: object) -> str:
    """``value`` as a YAML double-quoted scalar (JSON's escapes are YAML's): a flag value
    with a newline or a quote cannot add keys to the file it is written into."""
    return json.dumps(str(value))


def yaml_plain(value: object) -> str:
    """``value`` bare when YAML reads it back as that very string, else quoted."""
    text = str(value)
    if _PLAIN.fullmatch(text) and yaml.safe_load(text) == text:
        return text
    return yaml_quoted(text)


def render_cluster_yaml(opts: InitOptions) -> str:
    """The commented cluster.yaml for ``opts``; raises SpecError if it would not validate."""
    missing = [flag for flag, value in (("--cluster-name", opts.cluster_name),
                                        ("--external-dns-name", opts.external_dns_name),
                                        ("--region", opts.region)) if not value]
    if missing:
        raise UsageError("missing required option" + ("s " if len(missing) > 1 else " ")
                         + ", ".join(missing))
    import jinja2  # deferred: a fifth of every other command's start-up, and only init needs it

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False)
    env.filters["yaml"] = yaml_plain
    env.filters["yamlquoted"] = yaml_quoted
    region = opts.region or ""
    text = env.get_template("cluster.yaml.j2").render(
        cluster_name=opts.cluster_name,
        external_dns_name=opts.external_dns_name,
        region=region,
        zones=tuple(region + z for z in FIRST_ZONES.get(region, ("a", "b"))),
        availability_zone=opts.availability_zone,
        key_name=opts.key_name,
        kms_key_arn=opts.kms_key_arn or "",
        hosted_zone_id=opts.hosted_zone_id,
        s3_uri=opts.s3_uri,
        ssh_access_cidrs=opts.ssh_access_cidrs,
        kubernetes_version=DEFAULT_KUBERNETES_VERSION,
        supported=", ".join(f"{a}.{b}" for a, b in SUPPORTED_MINORS),
    )
    # The flags are user input: a bad one must fail here, naming the field, not later.
    load_spec_text(text, "cluster.yaml")
    return text


def write_new_file(path: Path, text: str, *, force: bool) -> None:
    """Create ``path`` atomically; never replace an existing file unless ``force``."""
    if path.exists() and not force:
        raise WorkspaceError(f"{path} already exists; not overwriting it (use --force to "
                             "replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        if force:
            os.replace(tmp, path)
        else:
            # link() fails if the file appeared meanwhile: never clobber a concurrent init.
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise WorkspaceError(f"{path} already exists; not overwriting it (use "
                                     "--force to replace it)") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def create(path: Path, opts: InitOptions, *, force: bool) -> None:
    """`kopsgen init`: write the cluster.yaml for ``opts`` at ``path``. An existing file is
    said first (and kept unless ``force``); flags that make an invalid file name the flag's
    field and write nothing."""
    if path.exists() and not force:
        raise WorkspaceError(f"{path} already exists; not overwriting it (use --force to "
                             "replace it)")
    try:
        text = render_cluster_yaml(opts)
    except SpecError as err:
        raise SpecError([p.__class__(0, 0, flag_of(p.field), p.message, "init options")
                         for p in err.problems]) from None
    write_new_file(path, text, force=force)
