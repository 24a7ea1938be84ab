"""The admin kubeconfig: one cluster, one user, one context, credentials embedded.

Embedded (``*-data``) rather than file paths so the file keeps working when copied away
from the cluster directory; it holds a private key, so the writer gives it mode 0600.
"""

from __future__ import annotations

import base64

import yaml


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def render_kubeconfig(
    cluster_name: str,
    server_url: str,
    ca_pem: bytes,
    admin_cert_pem: bytes,
    admin_key_pem: bytes,
) -> bytes:
    """A kubeconfig for ``cluster_name`` at ``server_url`` (e.g. https://k8s.kubeops.net).

    The cluster and the context are named after the cluster, the user ``<cluster>-admin``.
    Same inputs, same bytes.
    """
    if not server_url.startswith("https://"):
        raise ValueError(f"server_url must be an https:// URL, got {server_url!r}")
    user = f"{cluster_name}-admin"
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster_name,
                "cluster": {
                    "server": server_url,
                    "certificate-authority-data": _b64(ca_pem),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(admin_cert_pem),
                    "client-key-data": _b64(admin_key_pem),
                },
            }
        ],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": cluster_name,
        "preferences": {},
    }
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=1 << 20)
    return text.encode("utf-8")
