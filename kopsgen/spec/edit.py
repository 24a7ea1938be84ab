"""Line-exact edits of cluster.yaml: one setting changed, every other byte (comments,
order, quoting) as the user wrote it. Pure: text in, text out; the caller writes it."""

from __future__ import annotations

import yaml

from kopsgen.errors import UsageError


def set_etcd_restore_snapshot(text: str, key: str, filename: str = "cluster.yaml") -> str:
    """``text`` with ``etcd.restore.snapshot: <key>``: the value replaced where the setting
    exists, else the lines added under ``etcd:`` (or a new ``etcd:`` block at the end).
    Refuses what it cannot edit exactly (flow-style mappings), naming the line; checks that
    the result means the same as ``text`` but for that one setting."""
    try:
        root = yaml.compose(text)
        before = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"{filename}: does not parse as YAML ({exc}); fix it first") from None
    if root is not None and not isinstance(root, yaml.MappingNode):
        raise UsageError(f"{filename}:1: is not a mapping")
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    etcd = _child(root, "etcd")
    if etcd is None or (isinstance(etcd, yaml.ScalarNode) and etcd.value in ("", "~", "null")):
        if etcd is not None:
            line = etcd.start_mark.line
            raise UsageError(f"{filename}:{line + 1}: etcd: is empty; write `etcd:` with its "
                             "settings, or remove the line, then run this again")
        lines.append(f"etcd:\n  restore:\n    snapshot: {key}\n")
    else:
        _block(etcd, "etcd", filename)
        restore = _child(etcd, "restore")
        if restore is None:
            indent = etcd.value[0][0].start_mark.column if etcd.value else 2
            at = etcd.start_mark.line  # first line of etcd's mapping
            pad = " " * indent
            lines.insert(at, f"{pad}restore:\n{pad}  snapshot: {key}\n")
        else:
            _block(restore, "etcd.restore", filename)
            snapshot = _child(restore, "snapshot")
            if snapshot is None:
                indent = restore.value[0][0].start_mark.column
                lines.insert(restore.start_mark.line, f"{' ' * indent}snapshot: {key}\n")
            else:
                if not isinstance(snapshot, yaml.ScalarNode) or \
                        snapshot.start_mark.line != snapshot.end_mark.line:
                    raise UsageError(f"{filename}:{snapshot.start_mark.line + 1}: "
                                     "etcd.restore.snapshot: is not a one-line value")
                n = snapshot.start_mark.line
                line = lines[n]
                lines[n] = line[:snapshot.start_mark.column] + key + line[snapshot.end_mark.column:]
    out = "".join(lines)
    after = yaml.safe_load(out)
    expected = dict(before)
    etcd_value = dict(expected.get("etcd") or {})
    etcd_value["restore"] = {**(etcd_value.get("restore") or {}), "snapshot": key}
    expected["etcd"] = etcd_value
    if after != expected:  # a bug here, never a user's: say so rather than write it
        raise AssertionError("the cluster.yaml edit changed more than etcd.restore.snapshot")
    return out


def _child(node, name: str):
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == name:
            return v
    return None


def _block(node, what: str, filename: str) -> None:
    if not isinstance(node, yaml.MappingNode) or node.flow_style or not node.value:
        raise UsageError(f"{filename}:{node.start_mark.line + 1}: {what}: is not a block "
                         "mapping with settings; set etcd.restore.snapshot by hand")
