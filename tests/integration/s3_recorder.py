"""A local stand-in for EC2's instance metadata (IMDSv2) and an S3 bucket, for the rendered
kopsgen-s3-put (run by tests/integration/test_etcd_backup_restore.py on a test host).

python3 s3_recorder.py ADDRESS PORT DIR

- PUT /latest/api/token answers a token; GET /latest/meta-data/iam/security-credentials/
  with that token answers the role's name, and .../<role> its credentials (CREDENTIALS), as
  IMDS does (EC2 User Guide, "Retrieve security credentials from instance metadata").
- PUT of anything else stores the body in DIR/objects/<path> and the request (method, path,
  headers) in DIR/requests.jsonl; the test checks the signature and the SSE headers.
  GET of a stored path answers its body.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TOKEN = "imds-token-for-the-test"
ROLE = "k8s-etcd"
CREDENTIALS = {"Code": "Success", "AccessKeyId": "ASIATESTACCESSKEY000",
               "SecretAccessKey": "test/secret/key/for/the/recorder/000000",
               "Token": "test-session-token", "Expiration": "2099-01-01T00:00:00Z"}


def main(address: str, port: int, root: Path) -> None:
    objects = root / "objects"

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self) -> None:  # noqa: N802 - http.server's names
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if self.path == "/latest/api/token":
                return self._answer(200, TOKEN.encode())
            target = objects / self.path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
            with open(root / "requests.jsonl", "a") as log:
                log.write(json.dumps({"method": "PUT", "path": self.path,
                                      "headers": dict(self.headers.items())}) + "\n")
            return self._answer(200)

        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/latest/meta-data/iam/security-credentials/"):
                if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
                    return self._answer(401)
                rest = self.path.rsplit("/", 1)[1]
                if not rest:
                    return self._answer(200, ROLE.encode())
                if rest == ROLE:
                    return self._answer(200, json.dumps(CREDENTIALS, indent=2).encode())
                return self._answer(404)
            target = objects / self.path.lstrip("/")
            if target.is_file():
                return self._answer(200, target.read_bytes())
            return self._answer(404)

        def log_message(self, *args) -> None:
            pass

    ThreadingHTTPServer((address, port), Handler).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
