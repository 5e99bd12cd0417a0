"""The probe rewriter (engine.rewrite) against ``sys.settrace``.

coverage.py records the line events of a trace function on Python 3.9-3.11,
so a probed copy of some code must report exactly the lines a trace function
sees when the original runs, and behave exactly as the original does. Each
test runs real code both ways: a corpus of awkward constructs, copies of
standard-library modules under workloads, and generated code big enough to
need EXTENDED_ARG everywhere.
"""

from __future__ import annotations

import shutil
import sys
import sysconfig
import traceback
import types
from pathlib import Path
from typing import Any, Callable, Dict, List, Set, Tuple

import pytest

pytestmark = pytest.mark.skipif(not (3, 9) <= sys.version_info < (3, 12), reason="probes are for Python 3.9-3.11")

if (3, 9) <= sys.version_info < (3, 12):
    from requestcov.engine.rewrite import insert_probes, probe_points

CORPUS = Path(__file__).with_name("probes_corpus.py")


def _load(path: Path, probed: bool, record: Callable[[int, bool], None]) -> Tuple[types.CodeType, types.ModuleType]:
    code = compile(path.read_text(), str(path), "exec")
    if probed:
        def make_probe(filename: str, line: int, startup: bool) -> Callable[[], None]:
            assert filename == str(path)

            def probe() -> None:
                record(line, startup)

            return probe

        code = insert_probes(code, make_probe, True)
    module = types.ModuleType(f"probed_copy_of_{path.stem}")
    module.__file__ = str(path)
    return code, module


def run_traced(path: Path, workload: Callable[[types.ModuleType], Any]) -> Tuple[List[Set[int]], str]:
    """Lines of the import, then of the workload: a line run at import must
    not hide the same line missed later (a one-line function's only line is
    its ``def``)."""
    phases: List[Set[int]] = [set()]
    code, module = _load(path, False, lambda line, startup: None)
    filename = str(path)

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            phases[-1].add(frame.f_lineno)
        return local

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename == filename else None

    sys.settrace(tracer)
    try:
        exec(code, module.__dict__)
        phases.append(set())
        result = repr(workload(module))  # repr runs the module's __repr__s: traced too
    finally:
        sys.settrace(None)
    return phases, result


def run_probed(
    path: Path, workload: Callable[[types.ModuleType], Any]
) -> Tuple[List[Set[int]], str, Dict[int, Set[bool]]]:
    phases: List[Set[int]] = [set()]
    scopes: Dict[int, Set[bool]] = {}

    def record(line: int, startup: bool) -> None:
        phases[-1].add(line)
        scopes.setdefault(line, set()).add(startup)

    code, module = _load(path, True, record)
    exec(code, module.__dict__)
    phases.append(set())
    return phases, repr(workload(module)), scopes


def assert_same_both_ways(path: Path, workload: Callable[[types.ModuleType], Any], min_lines: int = 20) -> None:
    traced, traced_result = run_traced(path, workload)
    probed, probed_result, _ = run_probed(path, workload)
    assert probed_result == traced_result
    for phase, (seen, expected) in enumerate(zip(probed, traced)):
        assert sorted(expected - seen) == [], f"lines the probes missed in phase {phase}"
        assert sorted(seen - expected) == [], f"lines the probes reported that settrace did not in phase {phase}"
    assert len(traced[0] | traced[1]) >= min_lines


def test_corpus_reports_the_lines_settrace_reports() -> None:
    assert_same_both_ways(CORPUS, lambda module: module.run_all())


def _stdlib_copy(name: str, tmp_path: Path) -> Path:
    source = Path(sysconfig.get_paths()["stdlib"]) / f"{name}.py"
    target = tmp_path / f"copy_{name}.py"
    shutil.copyfile(source, target)
    return target


STDLIB_WORKLOADS: Dict[str, Callable[[types.ModuleType], Any]] = {
    "textwrap": lambda m: (m.fill("the quick brown fox jumps over the lazy dog " * 9, width=23),
                           m.dedent("    a\n      b\n\n    c\n"), m.indent("a\n\nb", "> "),
                           m.shorten("Hello  world! How are you?", width=12), m.wrap("x" * 50, 7)),
    "difflib": lambda m: (list(m.unified_diff("abc\ndef\nghi\n".splitlines(), "abc\nxyz\nghi\njkl\n".splitlines())),
                          list(m.ndiff(["one\n", "two\n"], ["ore\n", "tree\n", "emu\n"])),
                          m.SequenceMatcher(None, "private Thread currentThread;",
                                            "private volatile Thread currentThread;").get_opcodes(),
                          m.get_close_matches("appel", ["ape", "apple", "peach", "puppy"]),
                          m.HtmlDiff().make_table(["a", "b"], ["a", "c"])),
    "fractions": lambda m: (m.Fraction(3, 4) + m.Fraction("1/3"), m.Fraction(1.1).limit_denominator(100),
                            m.Fraction(-7, 3) // 2, m.Fraction(5, 2) ** 2, round(m.Fraction(7, 2)),
                            str(m.Fraction("3.1415")), m.Fraction(1, 3) < 0.5),
    "statistics": lambda m: (m.mean([1, 2, 3.5]), m.median([5, 1, 3, 2]), m.stdev([2.5, 3.25, 5.5, 11.25]),
                             m.mode("aabbbc"), m.harmonic_mean([40, 60]), m.quantiles(range(1, 20), n=4),
                             m.NormalDist(5, 2).cdf(6)),
    "ipaddress": lambda m: (list(m.ip_network("192.0.2.0/29").hosts()), m.ip_address("::ffff:1.2.3.4").ipv4_mapped,
                            m.ip_interface("10.1.2.3/8").network, m.ip_address("127.0.0.1").is_loopback,
                            list(m.summarize_address_range(m.IPv4Address("10.0.0.0"), m.IPv4Address("10.0.0.9"))),
                            list(m.collapse_addresses([m.ip_network("1.1.0.0/24"), m.ip_network("1.1.1.0/24")]))),
    "shlex": lambda m: (m.split("a 'b c' \"d\\\" e\" # comment", comments=True), m.quote("it's"),
                        m.join(["x y", "z"])),
    "calendar": lambda m: (m.month(2024, 2), m.isleap(1900), m.monthrange(2023, 12), m.HTMLCalendar().formatmonth(2020, 5)),
}


@pytest.mark.parametrize("name", sorted(STDLIB_WORKLOADS))
def test_standard_library_module_reports_the_same_lines(name: str, tmp_path: Path) -> None:
    assert_same_both_ways(_stdlib_copy(name, tmp_path), STDLIB_WORKLOADS[name])


def test_extended_args_everywhere(tmp_path: Path) -> None:
    """300 constants (the probe constants' indexes need EXTENDED_ARG) and a
    loop body so long that the jump back needs two prefixes."""
    body = "\n".join(f"        total += {index}.5 if i % {index % 7 + 2} else -{index}" for index in range(2500))
    source = f"def big(n):\n    total = 0\n    for i in range(n):\n{body}\n    return total\n"
    path = tmp_path / "generated.py"
    path.write_text(source)
    code = compile(source, str(path), "exec")
    function_code = next(const for const in code.co_consts if isinstance(const, types.CodeType))
    probed = insert_probes(function_code, lambda filename, line, startup: (lambda: None), False)
    assert len(probed.co_code) > 1 << 16
    assert_same_both_ways(path, lambda module: module.big(3))


def test_module_and_class_bodies_at_import_record_into_startup(tmp_path: Path) -> None:
    path = tmp_path / "scoped.py"
    path.write_text(
        "X = 1\n"                       # 1 module body: start-up
        "class AtImport:\n"             # 2
        "    y = 2\n"                   # 3 class body run at import: start-up
        "    def method(self):\n"       # 4
        "        return 3\n"            # 5 function: the request's
        "def view():\n"                 # 6
        "    class Local:\n"            # 7
        "        z = 4\n"               # 8 class body in a function: the request's
        "    return Local.z + AtImport().method()\n"  # 9
    )
    _, result, scopes = run_probed(path, lambda module: module.view())
    assert result == "7"
    assert scopes[1] == scopes[3] == {True}
    assert scopes[5] == scopes[7] == scopes[8] == scopes[9] == {False}


def test_tracebacks_keep_their_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "raising.py"
    path.write_text("def outer(x):\n    y = x + 1\n    return inner(y)\n\n\ndef inner(y):\n    return 1 // (y - y)\n")
    _, module = _load(path, True, lambda line, startup: None)
    code = compile(path.read_text(), str(path), "exec")
    exec(insert_probes(code, lambda f, line, s: (lambda: None), True), module.__dict__)
    with pytest.raises(ZeroDivisionError) as caught:
        module.outer(1)
    frames = [(frame.name, frame.lineno) for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert frames[-2:] == [("outer", 3), ("inner", 7)]


def test_probe_points_skip_the_prologue_and_lines_of_none() -> None:
    def generator_with_cells(a: int) -> Any:
        def uses() -> int:
            return a
        yield uses()

    points = probe_points(generator_with_cells.__code__)
    first_line = generator_with_cells.__code__.co_firstlineno
    assert first_line not in points.values()
    assert set(points.values()) == {first_line + 1, first_line + 3}


MATCH_SOURCE = '''\
def classify(value):
    match value:
        case 0 | 1:
            return "small"
        case [first, *rest] if first > 0:
            return f"list {first} {len(rest)}"
        case {"kind": kind, **others}:
            return kind
        case str() as text if (
            text
        ):
            return text.upper()
        case _:
            return None


def run():
    return [classify(value) for value in (0, 1, [2, 3], [-1], {"kind": "k", "x": 1}, "abc", "", 3.5)]
'''


@pytest.mark.skipif(sys.version_info < (3, 10), reason="match arrived in 3.10")
def test_match_statements(tmp_path: Path) -> None:
    path = tmp_path / "matching.py"
    path.write_text(MATCH_SOURCE)
    assert_same_both_ways(path, lambda module: module.run(), min_lines=15)
