"""terraform's environment and executable: the automation flags and the offline provider mirror.

Environment (:func:`terraform_env`). ``TF_IN_AUTOMATION=1``, ``CHECKPOINT_DISABLE=1`` and
``TF_INPUT=0`` always. Providers: where a local provider mirror exists (``KOPSGEN_TF_PLUGIN_MIRROR``,
or a directory named ``tf-plugins`` directly under /opt, /usr/local/share, /usr/share or /srv)
*and* the user has no CLI config of their own (``TF_CLI_CONFIG_FILE``, or ``~/.terraformrc`` when
that variable is unset, is not an existing file), the runner writes a CLI config whose
``provider_installation`` takes the providers found in the mirror from the mirror only and
everything else from its registry, and points ``TF_CLI_CONFIG_FILE`` at it. Elsewhere nothing
is changed and terraform installs providers from the registry as usual: a user's own CLI
config (credentials, their own mirror) always wins, and machines without a mirror behave like
plain terraform.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from kopsgen.errors import TerraformError

NOT_FOUND = "terraform not found on PATH; install Terraform >= 1.10"
MIRROR_ROOTS: tuple[Path, ...] = (Path("/opt"), Path("/usr/local/share"), Path("/usr/share"), Path("/srv"))
CLI_CONFIG_NAME = "kopsgen.tfrc"


def find_terraform(env: Mapping[str, str] | None = None) -> str:
    """The terraform executable: ``KOPSGEN_TERRAFORM`` if set, else the first on ``PATH``."""
    env = os.environ if env is None else env
    wanted = env.get("KOPSGEN_TERRAFORM", "")
    if wanted:
        found = shutil.which(wanted, path=env.get("PATH"))
        if found is None:
            raise TerraformError(f"KOPSGEN_TERRAFORM={wanted} is not an executable file")
        return found
    found = shutil.which("terraform", path=env.get("PATH"))
    if found is None:
        raise TerraformError(NOT_FOUND)
    return found


def find_plugin_mirror(env: Mapping[str, str] | None = None,
                       roots: Iterable[Path] | None = None) -> Path | None:
    """The local provider mirror: ``KOPSGEN_TF_PLUGIN_MIRROR`` or ``<root>/tf-plugins``, if any."""
    env = os.environ if env is None else env
    explicit = env.get("KOPSGEN_TF_PLUGIN_MIRROR", "")
    if explicit:
        # Set on purpose, so a typo must not silently fall back to the registry.
        if not Path(explicit).is_dir():
            raise TerraformError(f"KOPSGEN_TF_PLUGIN_MIRROR={explicit} is not a directory")
        return Path(explicit)
    for root in MIRROR_ROOTS if roots is None else roots:
        candidate = root / "tf-plugins"
        if candidate.is_dir():
            return candidate
    return None


def mirrored_providers(mirror: Path) -> list[str]:
    """``host/namespace/type`` of every provider in a filesystem mirror (packed or unpacked)."""
    found = []
    for host in sorted(p for p in mirror.iterdir() if p.is_dir()):
        for namespace in sorted(p for p in host.iterdir() if p.is_dir()):
            found += [f"{host.name}/{namespace.name}/{t.name}"
                      for t in sorted(namespace.iterdir()) if t.is_dir()]
    return found


def _user_cli_config(base: Mapping[str, str]) -> Path | None:
    if "TF_CLI_CONFIG_FILE" in base:
        path = Path(base["TF_CLI_CONFIG_FILE"]) if base["TF_CLI_CONFIG_FILE"] else None
    else:
        home = base.get("HOME")
        path = Path(home) / ".terraformrc" if home else None
    return path if path is not None and path.is_file() else None


def cli_config_text(mirror: Path, providers: Sequence[str]) -> str:
    """A CLI config installing ``providers`` only from ``mirror`` (HCL; strings JSON-escaped)."""
    names = ", ".join(json.dumps(p) for p in providers)
    return (
        "# Written by kopsgen: providers present in the local mirror come only from it.\n"
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {json.dumps(str(mirror))}\n"
        f"    include = [{names}]\n"
        "  }\n"
        "  direct {\n"
        f"    exclude = [{names}]\n"
        "  }\n"
        "}\n"
    )


def terraform_env(base: Mapping[str, str] | None, *, plugin_mirror: Path | None,
                  cli_config_dir: Path) -> dict[str, str]:
    """terraform's environment: ``base`` (default ``os.environ``) plus our settings.

    Writes ``cli_config_dir/kopsgen.tfrc`` and sets ``TF_CLI_CONFIG_FILE`` only when
    ``plugin_mirror`` holds providers and the user has no CLI config file (module docstring).
    """
    env = dict(os.environ if base is None else base)
    env.update(TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1", TF_INPUT="0")
    if plugin_mirror is None or _user_cli_config(env) is not None:
        return env
    providers = mirrored_providers(plugin_mirror)
    if not providers:
        return env
    cli_config_dir.mkdir(parents=True, exist_ok=True)
    path = cli_config_dir / CLI_CONFIG_NAME
    text = cli_config_text(plugin_mirror.resolve(), providers)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    env["TF_CLI_CONFIG_FILE"] = str(path.resolve())
    return env
