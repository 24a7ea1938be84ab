"""What every pre-flight check works with: the spec, the clients and the problems found so far."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kopsgen.aws.errors import botocore_errors, explain
from kopsgen.aws.session import AwsClients
from kopsgen.errors import Problem, one_line
from kopsgen.spec.model import Spec


@dataclass
class Check:
    """The state the checks share; each kind of check adds its methods in a subclass."""

    spec: Spec
    aws: AwsClients
    problems: list[Problem] = field(default_factory=list)

    def add(self, fld: str, message: str) -> None:
        self.problems.append(Problem(0, 0, fld, one_line(message), file="aws"))

    @contextmanager
    def guard(self, fld: str, what: str) -> Iterator[None]:
        """Turn any AWS error inside the block into one problem for ``fld``."""
        try:
            yield
        except botocore_errors() as exc:
            self.add(fld, f"{what}: {explain(exc)}")

    def ec2(self) -> Any:
        # The spec's region, whatever region the clients were made for.
        return self.aws.client("ec2", self.spec.region)
