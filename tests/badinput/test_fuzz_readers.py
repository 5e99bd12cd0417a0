"""Every reader of outside files either returns what it read or raises one
:class:`InputError` naming the file: random bytes, random YAML and random JSON
never escape as another exception (a traceback on the command line)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from requestcov.errors import InputError
from requestcov.replay.har import load_har
from requestcov.replay.keploy import read_keploy_test
from requestcov.store import read_dedup_yaml

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False), st.text(max_size=20),
)
#: Any JSON-like structure: what a YAML or JSON file can hold without tags.
structures = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4),
    ),
    max_leaves=25,
)
line_lists = st.one_of(st.lists(st.one_of(st.integers(-5, 10**8), st.text(max_size=4)), max_size=5), scalars)
#: Close to a real dedupData.yaml: right keys, values sometimes of the wrong kind.
dedup_entries = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "id": st.one_of(st.text(max_size=10), structures),
            "testSetId": st.one_of(st.text(max_size=10), structures),
            "executedLinesByFile": st.one_of(
                st.dictionaries(st.text(max_size=10), line_lists, max_size=3), structures
            ),
        },
    ),
    max_size=4,
)
#: Close to a Keploy test file.
keploy_documents = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.one_of(st.just("Http"), structures),
        "name": structures,
        "spec": st.one_of(
            st.fixed_dictionaries({}, optional={
                "req": st.one_of(st.fixed_dictionaries({}, optional={
                    "method": st.one_of(st.sampled_from(["GET", "POST", " "]), structures),
                    "url": st.one_of(st.sampled_from(["http://a/x", "http://[::1", "/p?q", ""]), structures),
                    "header": structures,
                    "body": structures,
                }), structures),
                "resp": structures,
            }),
            structures,
        ),
    },
)
#: Close to a HAR file.
har_documents = st.fixed_dictionaries({"log": st.one_of(
    st.fixed_dictionaries({"entries": st.one_of(st.lists(st.one_of(
        st.fixed_dictionaries({}, optional={
            "request": st.one_of(st.fixed_dictionaries({}, optional={
                "method": st.one_of(st.just("GET"), structures),
                "url": st.one_of(st.sampled_from(["http://a/b", "https://[::1", "data:x", "http://h:99999/"]),
                                 structures),
                "headers": structures,
                "postData": structures,
            }), structures),
            "response": structures,
            "_id": structures,
            "comment": structures,
        }),
        structures,
    ), max_size=3), structures)}),
    structures,
)})


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("badinput")


def _read_all(reader: Callable[[Path], Any], path: Path) -> None:
    try:
        result = reader(path)
        if isinstance(result, Iterator):
            list(result)
    except InputError as error:
        assert str(path) in str(error), error
        assert "\n" not in str(error), error


def _check(reader: Callable[[Path], Any], path: Path, content: bytes) -> None:
    path.write_bytes(content)
    _read_all(reader, path)


def _dump_yaml(data: Any) -> bytes:
    return yaml.safe_dump(data, allow_unicode=True).encode("utf-8")


def _keploy(path: Path) -> Any:
    return read_keploy_test(path, "test-set-0")


def _har(path: Path) -> Any:
    loaded = load_har(path)
    for warning in loaded.warnings:
        assert str(path) in warning
    return loaded


@FUZZ
@given(content=st.binary(max_size=300))
def test_dedup_yaml_random_bytes(folder: Path, content: bytes) -> None:
    _check(read_dedup_yaml, folder / "dedupData.yaml", content)


@FUZZ
@given(data=st.one_of(structures, dedup_entries))
def test_dedup_yaml_random_structures(folder: Path, data: Any) -> None:
    _check(read_dedup_yaml, folder / "dedupData.yaml", _dump_yaml(data))


@FUZZ
@given(content=st.binary(max_size=300))
def test_keploy_test_random_bytes(folder: Path, content: bytes) -> None:
    _check(_keploy, folder / "test-1.yaml", content)


@FUZZ
@given(data=st.one_of(structures, keploy_documents))
def test_keploy_test_random_structures(folder: Path, data: Any) -> None:
    _check(_keploy, folder / "test-1.yaml", _dump_yaml(data))


@FUZZ
@given(content=st.binary(max_size=300))
def test_har_random_bytes(folder: Path, content: bytes) -> None:
    _check(_har, folder / "traffic.har", content)


@FUZZ
@given(data=st.one_of(structures, har_documents))
def test_har_random_json(folder: Path, data: Any) -> None:
    _check(_har, folder / "traffic.har", json.dumps(data).encode("utf-8"))


@pytest.mark.parametrize(
    "name, content",
    [
        ("dedupData.yaml", b"[" * 100_000),
        ("dedupData.yaml", b"- id: &a x\n  executedLinesByFile: {/a.py: *a}\n"),
        ("dedupData.yaml", b"- id: t\n  executedLinesByFile: {/a.py: [99999999999]}\n"),
        ("dedupData.yaml", b"- id: t\n  executedLinesByFile: {/a.py: [" + b"9" * 5000 + b"]}\n"),
        ("dedupData.yaml", b"\xff\xfe\x00garbage"),
        ("dedupData.yaml", b"- id: a\n---\n- id: b\n"),
        ("test-1.yaml", b"[" * 100_000),
        ("test-1.yaml", b"kind: Http\nspec: {req: {method: GET, url: 'http://[::1'}}\n"),
        ("test-1.yaml", b"kind: Http\ncreated: 2020-13-45\nspec: {req: {method: GET, url: /}}\n"),
        ("test-1.yaml", b"a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                        b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                        b"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                        b"g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
                        b"kind: Http\nspec: {req: {method: GET, url: /, body: *h, header: {x: *h}}}\n"),
        ("traffic.har", b"[" * 100_000),
        ("traffic.har", b'{"log": {"entries": [{"request": {"method": "GET", "url": "http://[::1"}}]}}'),
    ],
    ids=["deep-dedup", "alias", "huge-line", "long-digits", "binary", "two-documents", "deep-keploy",
         "bad-ipv6-keploy", "bad-date", "alias-bomb", "deep-har", "bad-ipv6-har"],
)
def test_hostile_files(tmp_path: Path, name: str, content: bytes) -> None:
    reader = {"dedupData.yaml": read_dedup_yaml, "test-1.yaml": _keploy, "traffic.har": _har}[name]
    _check(reader, tmp_path / name, content)


def test_deep_nesting_is_refused_at_once(tmp_path: Path) -> None:
    """libyaml takes about a minute over 100,000 open brackets: the reader
    stops at the first collection nested deeper than any dedupData.yaml is
    (or libyaml itself does, where it has a limit of its own)."""
    path = tmp_path / "dedupData.yaml"
    path.write_bytes(b"[" * 100_000)
    with pytest.raises(InputError, match=r"dedupData\.yaml:1: .*nest"):
        list(read_dedup_yaml(path))
    # Four levels, the layout's own, still read.
    path.write_text("- id: t\n  executedLinesByFile:\n    /app/a.py: [1, 2]\n")
    assert [record.lines for record in read_dedup_yaml(path)] == [{"/app/a.py": [1, 2]}]
