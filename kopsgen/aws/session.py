"""boto3 sessions and clients: one region, short timeouts, optionally one emulator endpoint.

boto3 and botocore are imported inside the methods, on the first client asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Short timeouts and one retry: a pre-flight that hangs for minutes is worse than one that
#: says the endpoint is unreachable.
RETRIES = {"max_attempts": 2, "mode": "standard"}
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 20


@dataclass
class AwsClients:
    """boto3 clients for one region, all pointed at ``endpoint_url`` when one is given.

    The boto3 session is created on the first :meth:`client` call, so a bad profile shows
    up inside :func:`preflight` (as a problem) rather than where the object is built.
    """

    region: str
    endpoint_url: str | None = None
    profile: str | None = None
    _session: Any = field(default=None, init=False, repr=False)
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, init=False, repr=False)

    def session(self) -> Any:
        if self._session is None:
            import boto3

            self._session = boto3.Session(profile_name=self.profile, region_name=self.region)
        return self._session

    def client(self, service: str, region: str | None = None) -> Any:
        """A cached client for ``service`` in ``region`` (default: the cluster's region)."""
        key = (service, region or self.region)
        if key not in self._clients:
            from botocore.config import Config

            options: dict[str, Any] = {}
            if self.endpoint_url and service == "s3":
                # An emulator on an IP address cannot serve virtual-hosted bucket names.
                options["s3"] = {"addressing_style": "path"}
            config = Config(retries=RETRIES, connect_timeout=CONNECT_TIMEOUT,
                            read_timeout=READ_TIMEOUT, **options)
            self._clients[key] = self.session().client(
                service, region_name=key[1], endpoint_url=self.endpoint_url, config=config)
        return self._clients[key]


def make_session(region: str, *, endpoint_url: str | None = None, profile: str | None = None) -> AwsClients:
    """Clients for ``region``; ``endpoint_url`` points every service at one emulator."""
    return AwsClients(region=region, endpoint_url=endpoint_url, profile=profile)
