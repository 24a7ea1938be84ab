"""Pre-flight (``validate --aws``): the spec checked against the AWS account, one file a concern.

Every problem is collected at once, each naming the cluster.yaml field to fix; an AWS error (a
resource that does not exist, a refused call, an unreachable endpoint) becomes a
:class:`~kopsgen.errors.Problem`, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable

from kopsgen.aws.checks.account import AccountChecks
from kopsgen.aws.checks.compute import ComputeChecks
from kopsgen.aws.checks.dns import DnsChecks
from kopsgen.aws.checks.network import NetworkChecks
from kopsgen.aws.checks.storage import StorageChecks
from kopsgen.aws.session import AwsClients
from kopsgen.errors import Problem
from kopsgen.spec.model import Spec


class _Preflight(AccountChecks, ComputeChecks, DnsChecks, StorageChecks, NetworkChecks):
    """Every check, on one list of problems."""


def account_problems(spec: Spec, clients: AwsClients, expected_account: str) -> list[Problem]:
    """The credentials check alone (``--expected-account`` of the commands that change or
    delete things without a pre-flight): empty when they work and are for that account."""
    check = AccountChecks(spec, clients)
    check.credentials(expected_account)
    return check.problems


def preflight(spec: Spec, clients: AwsClients, *, expected_account: str | None = None,
              s3_uri_override: str | None = None) -> list[Problem]:
    """Check ``spec`` against the AWS account; every problem found, sorted (empty: all good).

    When the credentials do not work (or are for another account) that is the only problem
    and nothing else is asked. An unusable region skips the regional EC2 and KMS checks,
    which would all fail the same way.
    """
    check = _Preflight(spec, clients)
    if not check.credentials(expected_account):
        return check.problems
    steps: list[Callable[[], None]] = []
    if check.region():
        steps += [lambda: check.instance_types(check.zones()), check.key_pair, check.kms_key,
                  check.network]
    steps += [check.hosted_zone, lambda: check.bucket(s3_uri_override)]
    for step in steps:
        step()
    return sorted(check.problems)
