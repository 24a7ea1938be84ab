"""The HCL writer: what it prints is what `terraform fmt` would print."""

from __future__ import annotations

import subprocess

import pytest
from helpers import require_tool

from kopsgen.render.hcl import Attr, Blank, Block, Comment, Obj, Raw, document, quote


def sample() -> str:
    mod = Block("module", ("pool_web-1",))
    mod.attr("source", "./modules/nodepool").blank()
    mod.attr("cluster_name", "k8s")
    mod.attr("a_much_longer_name", 3)
    mod.attr("subnet_ids", [Raw('module.network.subnet_ids["a"]'), Raw('module.network.subnet_ids["b"]')])
    mod.attr("x", True)
    mod.attr("labels", {"example.com/team": "web", "tier": "front"})
    mod.attr("empty", {})
    mod.attr("one", ["only"])
    mod.attr("none", [])
    mod.attr("nothing", None)
    mod.attr("taints", [Obj((("key", "dedicated"), ("value", "gpu"), ("effect", "NoSchedule")),
                            inline=True)])
    mod.body.append(Comment("a comment that says why"))
    mod.attr("price", "0.05")
    mod.attr("tmpl", "${not interpolated} %{ nor this }")
    inner = Block("lifecycle")
    inner.attr("ignore_changes", [Raw("tags")])
    mod.body.append(inner)
    mod.attr("after_block", 1)
    tf = Block("terraform")
    tf.attr("required_version", ">= 1.10")
    return document([Comment("header"), tf, mod])


def test_quote_escapes_interpolation_and_quotes():
    assert quote('a"b\\c') == '"a\\"b\\\\c"'
    assert quote("${x}") == '"$${x}"'
    assert quote("%{x}") == '"%%{x}"'
    assert quote("é\n") == '"é\\n"'


def test_alignment_groups():
    text = sample()
    assert '  cluster_name       = "k8s"\n  a_much_longer_name = 3\n' in text
    assert "  subnet_ids = [\n" in text
    assert text.startswith("# header\nterraform {\n")


def test_terraform_fmt_changes_nothing(tmp_path):
    tf = require_tool("terraform")
    (tmp_path / "main.tf").write_text(sample())
    proc = subprocess.run([tf, "fmt", "-check", "-diff", str(tmp_path)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_unknown_value_type_is_a_bug():
    with pytest.raises(TypeError):
        document([Block("x", body=[Attr("a", object())])])  # type: ignore[arg-type]


def test_blank_lines_separate_groups():
    b = Block("b", body=[Attr("a", 1), Blank(), Attr("long_name", 2)])
    assert document([b]) == "b {\n  a = 1\n\n  long_name = 2\n}\n"


# Strings and keys that a naive writer gets wrong: JSON's \b and \f (not HCL escapes),
# control characters, $${ next to ${, %{, lone dollar signs, keys that are HCL keywords.
TRICKY = ["", "plain", 'a"b', "back\\slash", "new\nline", "cr\rtab\t", "\x00nul", "\x1besc",
          "\x08bs\x0cff", "\x7fdel\x85nel", "\u2028ls\u2029ps", "\u200bzw", "é中\U0001f600",
          "${x}", "$${x}", "$$${x}", "%{ if }", "%%{x}", "$", "$$", "%", "{}", "$\n{",
          "trailing$", "trailing%"]
TRICKY_KEYS = ["null", "true", "false", "for", "in", "if", "a b", "1abc", "a.b/c", "x-y_z",
               "${k}", "new\nline", "é"]


def test_strings_and_keys_round_trip_through_terraform(tmp_path):
    """Every string quote() writes and every key key() writes reads back as the same value
    in the real terraform (console evaluates the file; no provider, no init)."""
    import base64
    import json

    from kopsgen.render.hcl import key

    terraform = require_tool("terraform")
    block = Block("locals")
    block.attr("strings", list(TRICKY))
    block.attr("keys", Obj(tuple((k, i) for i, k in enumerate(TRICKY_KEYS))))
    (tmp_path / "main.tf").write_text(document([block]))
    assert key("null") == '"null"' and key("pool_a") == "pool_a"
    # base64 of the JSON: console prints strings HCL-quoted, which json cannot read
    proc = subprocess.run([terraform, "console"],
                          input="base64encode(jsonencode([local.strings, local.keys]))\n",
                          capture_output=True, text=True, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    strings, keys = json.loads(base64.b64decode(json.loads(proc.stdout.strip())))
    assert strings == TRICKY
    assert keys == {k: i for i, k in enumerate(TRICKY_KEYS)}


def test_a_lone_surrogate_is_refused_not_written():
    with pytest.raises(ValueError, match="surrogate"):
        quote("a\ud800")
    with pytest.raises(ValueError):
        document([Block("locals").attr("x", float("inf"))])
