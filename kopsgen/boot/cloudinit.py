#!/usr/bin/python3
"""coreos-cloudinit, as much of it as a kopsgen node uses -- the sandbox's stand-in for
Flatcar's program, installed in each sandbox machine as /usr/bin/coreos-cloudinit.

Everything it does is Flatcar's documented behaviour (flatcar/coreos-cloudinit):

- ``--oem=ec2-compat``: the user data from the instance metadata service
  (http://169.254.169.254/latest/user-data, with an IMDSv2 token: PUT /latest/api/token
  first), as oem-cloudinit.service runs it at every boot (flatcar/init
  systemd/system/oem-cloudinit.service); ``--from-file=PATH``: the cloud-config in PATH.
- A document that starts with ``#cloud-config`` is applied; anything else is ignored.
- ``ssh_authorized_keys`` first (initialize/config.go Apply): each key stripped, joined
  with newlines (ending with one) and handed on stdin to ``update-ssh-keys -u core -a
  coreos-cloudinit`` (system/ssh_key.go AuthorizeSSHKeys); a failure ends the run.
- then write_files (initialize/config.go Apply): each file written to a temporary file in
  its directory, then ``permissions`` (an octal string; 0644 by default) and ``owner``
  (``chown``) applied, then renamed into place; missing directories are made with 0755
  (system/file.go). ``encoding``: base64/b64 (gzip is not used by kopsgen and refused).
- then the units, in file order (processUnits): ``content`` written to
  /etc/systemd/system/NAME (/run with ``runtime: true``), each drop-in to NAME.d/, ``mask``
  (a symlink to /dev/null in place of the unit), ``enable`` (systemctl enable, which only
  does something for a unit with an [Install] section); then one ``daemon-reload`` if any
  content or drop-in was written; then every ``command`` in file order, each with
  ``systemctl <command> NAME``, which waits for its job as go-systemd's StartUnit does.
- a job that fails is logged (``Result of "start" on "x": failed``) and the next command
  runs; a unit that is masked or does not exist ends the whole run with an error, as the
  D-Bus call fails there (system/systemd.go RunUnitCommand).

It logs as coreos-cloudinit does ("Calling unit command ...") to the journal.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

IMDS = os.environ.get("KOPSGEN_IMDS_ENDPOINT", "http://169.254.169.254")
COMMANDS = ("start", "stop", "restart", "reload", "try-restart", "reload-or-restart",
            "reload-or-try-restart")


def log(message: str) -> None:
    print(message, flush=True)


def user_data() -> str:
    """The instance's user data, through IMDSv2; retried while the service is not up
    (coreos-cloudinit waits up to 5 minutes for a datasource)."""
    deadline = time.monotonic() + 300
    while True:
        try:
            req = urllib.request.Request(f"{IMDS}/latest/api/token", method="PUT",
                                         headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"})
            token = urllib.request.urlopen(req, timeout=5).read().decode()
            req = urllib.request.Request(f"{IMDS}/latest/user-data",
                                         headers={"X-aws-ec2-metadata-token": token})
            return urllib.request.urlopen(req, timeout=5).read().decode()
        except OSError as exc:
            if time.monotonic() > deadline:
                raise SystemExit(f"coreos-cloudinit: no datasource answered: {exc}") from None
            log(f"coreos-cloudinit: waiting for the metadata service: {exc}")
            time.sleep(2)


def write_file(f: dict) -> None:
    path = f["path"]
    content = f.get("content", "")
    encoding = f.get("encoding")
    data = content.encode()
    if encoding in ("base64", "b64"):
        data = base64.b64decode(content)
    elif encoding:
        raise SystemExit(f"coreos-cloudinit: encoding {encoding!r} of {path} is not supported")
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="cloudinit-temp")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(tmp, int(str(f.get("permissions") or "0644"), 8))
    if f.get("owner"):
        subprocess.run(["chown", f["owner"], tmp], check=True)
    os.rename(tmp, path)
    log(f"Wrote file {path} to filesystem")


def systemctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["systemctl", *args], capture_output=True, text=True)


def load_state(name: str) -> str:
    return systemctl("show", "-p", "LoadState", "--value", name).stdout.strip()


def authorize_ssh_keys(keys: list[str]) -> None:
    joined = "\n".join(k.strip() for k in keys) + "\n"
    done = subprocess.run(["update-ssh-keys", "-u", "core", "-a", "coreos-cloudinit"],
                          input=joined, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"coreos-cloudinit: call to update-ssh-keys failed with exit status "
                         f"{done.returncode}: {done.stdout} {done.stderr}")
    log("Authorized SSH keys for core user")


def apply(config: dict) -> None:
    if config.get("ssh_authorized_keys"):
        authorize_ssh_keys(config["ssh_authorized_keys"])
    for f in config.get("write_files") or []:
        write_file(f)
    units = (config.get("coreos") or {}).get("units") or []
    actions, reload = [], False
    for u in units:
        name = u["name"]
        base = "/run/systemd/system" if u.get("runtime") else "/etc/systemd/system"
        if u.get("content"):
            write_file({"path": f"{base}/{name}", "content": u["content"]})
            reload = True
        for d in u.get("drop-ins") or []:
            if d.get("name") and d.get("content"):
                write_file({"path": f"{base}/{name}.d/{d['name']}", "content": d["content"]})
                reload = True
        if u.get("mask"):
            target = f"{base}/{name}"
            if os.path.lexists(target):
                os.remove(target)
            os.makedirs(base, exist_ok=True)
            os.symlink("/dev/null", target)
            log(f"Masked unit {name}")
        if u.get("enable"):
            systemctl("enable", *(["--runtime"] if u.get("runtime") else []), name)
            log(f"Enabled unit {name}")
        if u.get("command"):
            if u["command"] not in COMMANDS:
                raise SystemExit(f"coreos-cloudinit: invalid command {u['command']!r} for {name}")
            actions.append((u["command"], name))
    if reload:
        systemctl("daemon-reload")
    for command, name in actions:
        state = load_state(name)
        if command != "stop" and state in ("masked", "not-found"):
            raise SystemExit(f"coreos-cloudinit: calling unit command {command!r} on "
                             f"{name!r}: Unit {name} is {state.replace('-', ' ')}.")
        log(f'Calling unit command "{command}" on "{name}"')
        done = systemctl(command, name)
        log(f'Result of "{command}" on "{name}": {"done" if done.returncode == 0 else "failed"}')


def main(argv: list[str]) -> int:
    source = next((a for a in argv if a.startswith(("--from-file=", "--oem="))), None)
    if source is None:
        print("usage: coreos-cloudinit --oem=ec2-compat | --from-file=PATH", file=sys.stderr)
        return 2
    if source.startswith("--from-file="):
        with open(source.split("=", 1)[1]) as fh:
            text = fh.read()
    else:
        text = user_data()
    if not text.startswith("#cloud-config"):
        log("coreos-cloudinit: user data is not a cloud-config; nothing to do")
        return 0
    apply(yaml.safe_load(text) or {})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
