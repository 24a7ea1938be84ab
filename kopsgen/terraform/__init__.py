"""The Terraform runner: the only place that builds terraform's argv and environment and runs it.

- :mod:`.runner`: :class:`Terraform`, its subcommands, the process and Ctrl-C;
- :mod:`.env`: the executable, the environment and the CLI config for the offline provider mirror;
- :mod:`.progress`: :class:`ProgressEvent`\\ s parsed from terraform's human output;
- :mod:`.failure`: :class:`TerraformFailed`, :class:`Interrupted` and terraform's error text;
- :mod:`.plan`: :class:`PlanSummary` of a saved plan (:func:`summarize_plan`).
"""

from __future__ import annotations

from kopsgen.terraform.env import (
    CLI_CONFIG_NAME,
    MIRROR_ROOTS,
    NOT_FOUND,
    cli_config_text,
    find_plugin_mirror,
    find_terraform,
    mirrored_providers,
    terraform_env,
)
from kopsgen.terraform.failure import MAX_ERROR_LINES, Interrupted, TerraformFailed, error_text
from kopsgen.terraform.plan import ROOT_MODULE, Counts, PlanSummary, summarize_plan, top_module
from kopsgen.terraform.progress import ProgressEvent, parse_duration, parse_progress
from kopsgen.terraform.runner import INIT_STAMP, Terraform

__all__ = [
    "CLI_CONFIG_NAME", "INIT_STAMP", "MAX_ERROR_LINES", "MIRROR_ROOTS", "NOT_FOUND", "ROOT_MODULE",
    "Counts", "Interrupted", "PlanSummary", "ProgressEvent", "Terraform", "TerraformFailed",
    "cli_config_text", "error_text", "find_plugin_mirror", "find_terraform", "mirrored_providers",
    "parse_duration", "parse_progress", "summarize_plan", "terraform_env", "top_module",
]
