"""Everything kopsgen asks AWS: pre-flight checks (``validate --aws``) and leftovers (``destroy``).

This is the only package that imports boto3, and only inside functions: ``kopsgen validate``
and every renderer must work on a machine without AWS access or credentials.

- :mod:`.session`: :class:`AwsClients` (:func:`make_session`), the boto3 clients of one region;
- :mod:`.errors`: botocore errors as one line (:func:`failure`, :func:`asking`, :func:`is_aws_error`);
- :mod:`.checks`: :func:`preflight`, one module for each kind of thing it checks;
- :mod:`.resources`: :func:`tagged_resources`, what ``destroy`` left behind.
"""

from __future__ import annotations

from kopsgen.aws.checks import account_problems, preflight
from kopsgen.aws.errors import (
    asking,
    botocore_errors,
    client_error,
    error_code,
    explain,
    failure,
    is_aws_error,
    unreachable,
)
from kopsgen.aws.resources import tagged_resources
from kopsgen.aws.session import AwsClients, make_session

__all__ = ["AwsClients", "account_problems", "asking", "botocore_errors", "client_error",
           "error_code", "explain", "failure", "is_aws_error", "make_session", "preflight",
           "tagged_resources", "unreachable"]
