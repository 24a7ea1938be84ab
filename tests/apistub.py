"""A kube-apiserver stand-in for tests: the few REST paths kubectl and kopsgen use, served
over TLS with the cluster's apiserver.pem to clients of the cluster CA (helpers.tls_server),
from objects the test puts in :attr:`APIStub.objects`. It is no API server -- no
validation, no watch, no admission -- only what a real one answers for these requests:

- discovery: /api, /apis, /api/v1, /apis/<group>/<version> (legacy discovery documents);
- GET of a collection (``.../nodes``) or of one object (``.../nodes/<name>``), as JSON;
- PUT of ``certificatesigningrequests/<name>/approval`` (what ``kubectl certificate approve``
  sends), which stores the conditions it was given;
- POST of a CertificateSigningRequest, whose spec.username and spec.groups become the
  client certificate's CN and O (plus system:authenticated), as the API server sets them;
- PATCH with ``application/apply-patch+yaml`` (server-side apply, ``kubectl apply
  --server-side``): creates or replaces the object with the one sent -- no field ownership,
  no merge, which only matters to a second applier;
- DELETE of one object;
- GET /readyz and /healthz: "ok" when :attr:`ready`, else HTTP 500.
"""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import helpers

#: (group/version, plural, kind, namespaced)
RESOURCES = (
    ("v1", "nodes", "Node", False),
    ("v1", "pods", "Pod", True),
    ("certificates.k8s.io/v1", "certificatesigningrequests", "CertificateSigningRequest", False),
    ("apps/v1", "deployments", "Deployment", True),
    ("apps/v1", "daemonsets", "DaemonSet", True),
    ("rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding", False),
    ("v1", "configmaps", "ConfigMap", True),
)


class APIStub:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str | None], dict[str, dict]] = {}
        self.ready = True
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def put(self, obj: dict) -> None:
        gv, kind = obj["apiVersion"], obj["kind"]
        (_, plural, _, namespaced), = [r for r in RESOURCES if r[0] == gv and r[2] == kind]
        ns = obj["metadata"].get("namespace") if namespaced else None
        with self.lock:
            self.objects.setdefault((gv, plural, ns), {})[obj["metadata"]["name"]] = obj

    def get(self, gv: str, plural: str, name: str, ns: str | None = None) -> dict | None:
        with self.lock:
            return self.objects.get((gv, plural, ns), {}).get(name)

    # -- HTTP ----------------------------------------------------------------------------

    def route(self, method: str, path: str, body: bytes,
              client: tuple[str, list[str]] = ("", []),
              content_type: str = "") -> tuple[int, object]:
        parts = [p for p in path.split("?", 1)[0].split("/") if p]
        if parts in (["readyz"], ["healthz"], ["livez"]):
            return (200, "ok") if self.ready else (500, "not ready")
        if parts == ["openapi", "v3"]:  # OpenAPI v3 discovery: a document per group/version
            gvs = sorted({gv for gv, *_ in RESOURCES})
            return 200, {"paths": {(f"api/{gv}" if "/" not in gv else f"apis/{gv}"): {
                "serverRelativeURL": f"/openapi/v3/{'api' if '/' not in gv else 'apis'}/{gv}?hash=0"}
                for gv in gvs}}
        if parts[:2] == ["openapi", "v3"]:
            # A PATCH operation per kind that takes fieldValidation: kubectl then leaves the
            # validation to the server (which the stand-in does not do) instead of wanting
            # the schemas.
            gv = "/".join(parts[3:])
            group, _, version = gv.rpartition("/")
            return 200, {"openapi": "3.0.0", "info": {"title": "kopsgen apistub", "version": "v0"},
                         "paths": {f"/{'/'.join(parts[2:])}/{p}/{{name}}": {"patch": {
                             "x-kubernetes-group-version-kind": {
                                 "group": group, "version": version, "kind": k},
                             "parameters": [{"name": "fieldValidation", "in": "query",
                                             "schema": {"type": "string"}}]}}
                             for g, p, k, _ in RESOURCES if g == gv},
                         "components": {"schemas": {}}}
        if parts == ["api"]:
            return 200, {"kind": "APIVersions", "versions": ["v1"]}
        if parts == ["apis"]:
            groups = sorted({gv for gv, *_ in RESOURCES if "/" in gv})
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": gv.split("/")[0], "versions": [{"groupVersion": gv,
                                                         "version": gv.split("/")[1]}],
                 "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]}}
                for gv in groups]}
        if parts[0] == "api":
            gv, rest = "v1", parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            return 404, status(404, f"no route for {path}")
        if not rest:
            return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                         "resources": [
                             {"name": p, "singularName": k.lower(), "namespaced": n, "kind": k,
                              "verbs": ["get", "list", "update", "delete"]}
                             for g, p, k, n in RESOURCES if g == gv] + [
                             {"name": f"{p}/approval", "singularName": "", "namespaced": False,
                              "kind": k, "verbs": ["get", "update"]}
                             for g, p, k, _ in RESOURCES if p == "certificatesigningrequests"
                             and g == gv]}
        ns = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        plural, name, sub = rest[0], (rest[1] if len(rest) > 1 else None), rest[2:]
        if name is None and method == "POST" and plural == "certificatesigningrequests":
            obj = json.loads(body)
            obj["spec"]["username"], obj["spec"]["groups"] = client[0], [
                *client[1], "system:authenticated"]
            obj.setdefault("status", {})
            with self.lock:
                if obj["metadata"]["name"] in self.objects.get((gv, plural, None), {}):
                    return 409, status(409, f'{plural} "{obj["metadata"]["name"]}" exists')
            self.put(obj)
            return 201, obj
        if method == "PATCH" and name and not sub and "apply-patch" in content_type:
            import yaml

            obj = yaml.safe_load(body)
            with self.lock:
                existed = name in self.objects.get((gv, plural, ns), {})
                self.objects.setdefault((gv, plural, ns), {})[name] = obj
            return (200 if existed else 201), obj
        with self.lock:
            if name is None and method == "GET":
                items = [o for (g, p, n), objs in self.objects.items()
                         if g == gv and p == plural and (ns is None or n == ns)
                         for o in objs.values()]
                kind = next((k for g, p, k, _ in RESOURCES if g == gv and p == plural), "")
                return 200, {"apiVersion": gv, "kind": f"{kind}List",
                             "metadata": {"resourceVersion": "1"}, "items": items}
            obj = self.objects.get((gv, plural, ns), {}).get(name or "")
            if obj is None:
                return 404, status(404, f'{plural} "{name}" not found')
            if method == "GET" and not sub:
                return 200, obj
            if method == "DELETE" and not sub:
                del self.objects[(gv, plural, ns)][name]
                return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}
            if method == "PUT" and sub == ["approval"]:
                sent = json.loads(body)
                obj.setdefault("status", {})["conditions"] = sent["status"]["conditions"]
                return 200, obj
            if method == "PATCH" and not sub:  # merge and strategic-merge of maps
                merge(obj, json.loads(body))
                return 200, obj
        return 405, status(405, f"{method} {path} is not served by the stand-in")


def _fields(data: bytes) -> dict[int, list]:
    """Protocol buffers wire format: field number -> values (varints or bytes)."""
    out: dict[int, list] = {}
    i = 0

    def varint() -> int:
        nonlocal i
        shift = value = 0
        while True:
            b = data[i]
            i += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return value

    while i < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            out.setdefault(number, []).append(varint())
        elif wire == 2:
            n = varint()
            out.setdefault(number, []).append(data[i:i + n])
            i += n
        else:
            raise ValueError(f"wire type {wire} is not read by the stand-in")
    return out


def csr_approval_from_protobuf(body: bytes) -> dict:
    """The conditions of a CertificateSigningRequest that kubectl sends as protobuf (it does
    for built-in kinds): the envelope "k8s\\0" + runtime.Unknown{2: raw}, the object's field 3
    (status), its repeated field 1 (conditions): 1 type, 2 reason, 3 message, 6 status
    (k8s.io/api certificates/v1 generated.proto)."""
    assert body.startswith(b"k8s\x00"), body[:8]
    raw = _fields(body[4:])[2][0]
    status_ = _fields(raw).get(3, [b""])[0]
    conditions = []
    for c in _fields(status_).get(1, []):
        f = _fields(c)
        conditions.append({"type": f[1][0].decode(), "reason": f.get(2, [b""])[0].decode(),
                           "message": f.get(3, [b""])[0].decode(),
                           "status": f.get(6, [b""])[0].decode()})
    return {"status": {"conditions": conditions}}


def merge(into: dict, patch: dict) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        elif value is None:
            into.pop(key, None)
        else:
            into[key] = value


def status(code: int, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
            "reason": {404: "NotFound", 409: "AlreadyExists"}.get(code, "MethodNotAllowed"),
            "code": code}


@contextlib.contextmanager
def serve(creds: dict[str, bytes], tmp: Path):
    """Yields (stub, base URL); the server demands a client certificate of the cluster CA."""
    stub = APIStub()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            stub.requests.append(f"{self.command} {self.path}")
            if body and "protobuf" in (self.headers.get("Content-Type") or ""):
                body = json.dumps(csr_approval_from_protobuf(body)).encode()
            subject = dict(x[0] for x in (self.connection.getpeercert() or {}).get("subject", ()))
            groups = [v for rdn in (self.connection.getpeercert() or {}).get("subject", ())
                      for k, v in rdn if k == "organizationName"]
            try:
                code, payload = stub.route(self.command, self.path, body,
                                           (subject.get("commonName", ""), groups),
                                           self.headers.get("Content-Type") or "")
            except Exception as exc:  # noqa: BLE001 - answered, and kept for the test
                stub.errors.append(f"{self.command} {self.path}: {exc!r}")
                code, payload = 500, status(500, repr(exc))
            self._send(code, payload)

        def _send(self, code: int, payload: object) -> None:
            data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain" if isinstance(payload, str)
                             else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _answer  # noqa: N815

        def log_message(self, *args) -> None:
            pass

    with helpers.tls_server(creds, Handler, tmp) as httpd:
        yield stub, f"https://127.0.0.1:{httpd.server_address[1]}"
