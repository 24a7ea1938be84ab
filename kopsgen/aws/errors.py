"""botocore errors as kopsgen's: one line with AWS's answer and what to do about it.

botocore is imported inside the functions only (a ``kopsgen validate`` without AWS must not
load it); :func:`is_aws_error` does not import it at all.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from kopsgen.aws.session import READ_TIMEOUT
from kopsgen.errors import AwsCheckError, one_line


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _code_and_message(exc: Exception) -> tuple[str, str]:
    """The error code and message of an AWS answer. A body botocore could not parse (an
    XML error where JSON was expected, a proxy's HTML page) arrives as the message, with
    the HTTP status as the code: the code and message inside it are used, or it is named."""
    response = getattr(exc, "response", None) or {}
    err = response.get("Error", {})
    code = str(err.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    message = str(err.get("Message") or "")
    if message.lstrip().startswith("<"):
        inner_code = re.search(r"<Code>([^<]{1,100})</Code>", message)
        inner_message = re.search(r"<Message>([^<]{0,500})</Message>", message)
        if inner_code:
            code = inner_code.group(1)
            message = inner_message.group(1) if inner_message else ""
        else:
            message = "the endpoint answered with a page that is not an AWS error (a proxy?)"
    return code, message


def explain(exc: Exception) -> str:
    """One line for a botocore error: the AWS code and message, or what failed to connect."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ProfileNotFound,
        ReadTimeoutError,
    )

    if isinstance(exc, ClientError):
        code, message = _code_and_message(exc)
        return one_line(f"{code}: {message}" if message else f"{code}")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return one_line(f"cannot reach {exc.kwargs.get('endpoint_url', 'the AWS endpoint')}")
    if isinstance(exc, ReadTimeoutError):
        return one_line(f"no answer from {exc.kwargs.get('endpoint_url', 'the AWS endpoint')} "
                        f"within {READ_TIMEOUT}s")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | ProfileNotFound):
        return one_line(str(exc))
    return one_line(f"{type(exc).__name__}: {exc}")


def unreachable(exc: Exception) -> bool:
    """Whether ``exc`` means no answer came back (as opposed to a refusal)."""
    from botocore.exceptions import ConnectionError, HTTPClientError

    return isinstance(exc, ConnectionError | HTTPClientError)


def botocore_errors() -> tuple[type[Exception], ...]:
    """Every error botocore raises for a failed call (imported late: see the module doc)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


def client_error() -> type[Exception]:
    """The error of a call AWS answered with an error code."""
    from botocore.exceptions import ClientError

    return ClientError


#: Error codes with which AWS refuses the credentials themselves (not a permission).
CREDENTIAL_ERROR_CODES = frozenset({
    "AuthFailure", "ExpiredToken", "ExpiredTokenException", "InvalidAccessKeyId",
    "InvalidClientTokenId", "InvalidToken", "RequestExpired", "SignatureDoesNotMatch",
    "UnrecognizedClientException",
})
CREDENTIALS_HINT = ("configure AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run "
                    "`aws sso login`")
NETWORK_HINT = "check the network, proxy settings and AWS_ENDPOINT_URL"


def _hint(exc: Exception) -> str | None:
    """What to do about ``exc``, when it is the credentials or the network."""
    from botocore.exceptions import (
        CredentialRetrievalError,
        NoCredentialsError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    if unreachable(exc):
        return NETWORK_HINT
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | ProfileNotFound |
                  CredentialRetrievalError) or _code_and_message(exc)[0] in CREDENTIAL_ERROR_CODES:
        return CREDENTIALS_HINT
    return None


def is_aws_error(exc: BaseException) -> bool:
    """Whether ``exc`` is an error botocore raised (without importing it when no AWS call
    was made: then it cannot be one)."""
    return "botocore.exceptions" in sys.modules and isinstance(exc, botocore_errors())


def failure(what: str, exc: Exception) -> AwsCheckError:
    """A failed AWS call as one line: ``cannot <what>: <AWS's answer> (<what to do>)``."""
    hint = _hint(exc)
    return AwsCheckError(one_line(f"cannot {what}: {explain(exc)}"
                                  + (f" ({hint})" if hint else "")))


@contextmanager
def asking(what: str) -> Iterator[None]:
    """Turn any botocore error inside the block into :func:`failure` (exit 5)."""
    try:
        yield
    except botocore_errors() as exc:
        raise failure(what, exc) from None
