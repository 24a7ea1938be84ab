"""Random and mutated cluster.yaml: kopsgen answers with a clean spec error or a Spec, never
a crash."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kopsgen.errors import Problem, SpecError
from kopsgen.spec import load_spec_text
from kopsgen.spec.model import Spec

SEED_TEXT = (Path(__file__).resolve().parents[2] / "examples" / "kubeops" / "cluster.yaml"
             ).read_text()
SEED = yaml.safe_load(SEED_TEXT)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
    st.text(max_size=20), st.sampled_from(["10.0.0.0/16", "us-east-1a", "gp3", "io1", "",
                                           "0.05", "t3.medium", "sg-01234567", "v1.34.2"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12)


def check(text: str) -> None:
    try:
        loaded = load_spec_text(text)
    except SpecError as err:
        assert err.problems, "a SpecError must carry at least one problem"
        for p in err.problems:
            assert isinstance(p, Problem)
            assert p.message and "\n" not in str(p)
        return
    assert isinstance(loaded.spec, Spec)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_text(text):
    check(text)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(SEED) + ["worker", "etcd", "controller",
                                                        "subnets", "bogus"]),
                       values, max_size=8))
def test_random_documents(doc):
    check(yaml.safe_dump(doc))


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


SEED_PATHS = [p for p in _paths(SEED) if p]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SEED_PATHS), values), min_size=1, max_size=4))
def test_mutated_seed(mutations):
    import copy

    doc = copy.deepcopy(SEED)
    for path, value in mutations:
        parent = doc
        try:
            for part in path[:-1]:
                parent = parent[part]
            parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    check(yaml.safe_dump(doc))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(SEED_TEXT) - 1), st.integers(1, 20), st.text(max_size=10))
def test_text_splices_of_seed(at, cut, insert):
    check(SEED_TEXT[:at] + insert + SEED_TEXT[at + cut:])
