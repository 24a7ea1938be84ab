"""A botocore error that reaches the command line unwrapped is still the AWS-check error
(exit 5, one line), never an internal error (issue 11, item 7)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from kopsgen import console
from kopsgen.errors import ExitCode

ERRORS = [
    NoCredentialsError(),
    EndpointConnectionError(endpoint_url="https://sts.us-east-1.amazonaws.com/"),
    ClientError({"Error": {"Code": "ExpiredToken", "Message": "The token has expired.\n"}},
                "GetCallerIdentity"),
]


@pytest.mark.parametrize("exc", ERRORS, ids=lambda e: type(e).__name__)
def test_an_unwrapped_botocore_error_is_exit_5_in_one_line(capsys, monkeypatch, exc):
    monkeypatch.setenv("NO_COLOR", "1")
    code = console.failure_code(exc)
    err = capsys.readouterr().err
    assert code == ExitCode.AWS_CHECK_FAILED, err
    assert err.count("\n") == 1 and err.startswith("error: cannot talk to AWS: "), err
    assert "internal error" not in err
