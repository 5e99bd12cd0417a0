"""Which recorded tests a change touches, and which changed code no test runs.

Inputs are plain: changed lines per absolute path (from :mod:`diff`) and the
coverage index. Recorded paths may come from another machine or a container
(``/app/shop/cart.py`` while the diff says ``shop/cart.py``), so a changed file
not recorded under its absolute path is matched by its path suffix when
exactly one recorded file ends with it.

Recorded lines belong to the version of the file they were recorded at,
which need not be either side of the diff: a test recorded last week ran
``price()`` at lines 40-48, three commits and an inserted helper later it is
at 52-60. Each test's lines are read in its own version: a changed line of
the diff's new side is carried back through ``git diff RECORDED_COMMIT
TARGET`` (a :class:`~requestcov.analysis.diff.LineMap`) to the line it was
when recorded, so a change to code whose lines moved still finds its tests.
Lines of an unknown version (older stores, dedupData.yaml) are compared as
recorded, as are those whose version cannot be found in the repository; the
result says which files those are (``unmapped``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

import numpy as np

from requestcov.analysis.diff import FileChange, LineMap, git_file_bytes, git_file_diff, parse_unified_diff
from requestcov.analysis.index import CoverageIndex
from requestcov.analysis.statements import UnparsableSource, parse_statements
from requestcov.analysis.versions import RecordedVersions
from requestcov.errors import RequestcovError
from requestcov.fileversions import file_sha256
from requestcov.records import FileVersion

__all__ = ["ImpactResult", "find_impact", "match_recorded_file", "GitLineMaps", "Unmappable"]


@dataclass
class ImpactResult:
    #: Index-tests that executed a changed line, in index order.
    tests: List[int]
    #: Changed lines each of those tests executed (numbered as in the diff's
    #: new side): test -> changed file's path -> lines.
    lines_hit: Dict[int, Dict[str, List[int]]]
    #: Changed executable lines no recorded test executed, per file.
    untested: Dict[str, List[int]]
    #: Absolute path -> changed lines considered.
    changed: Dict[str, List[int]]
    #: Changed files recorded under another path: changed path -> recorded path.
    matched_by_suffix: Dict[str, str]
    #: Changed files whose recorded lines were read through a diff from the
    #: version they were recorded at: path -> those versions' commits.
    mapped: Dict[str, List[str]] = field(default_factory=dict)
    #: Changed files some test ran in a version whose lines could not be
    #: mapped (compared as recorded): path -> why.
    unmapped: Dict[str, str] = field(default_factory=dict)


class Unmappable(RequestcovError):
    """The recorded version of a file cannot be carried to the diff's new side."""


class GitLineMaps:
    """Line maps from recorded versions of files to the diff's new side
    (``target``: a revision, or None for the work tree), asked of git in
    the repository at ``root``; each (file, version) once."""

    def __init__(self, root: str, target: Optional[str]) -> None:
        self.root = root
        self.target = target
        self._target_sha256: Dict[str, Optional[str]] = {}
        self._maps: Dict[Tuple[str, FileVersion], Tuple[Optional[LineMap], Optional[str]]] = {}

    def _sha256_of_target(self, relative: str) -> Optional[str]:
        if relative not in self._target_sha256:
            if self.target is None:
                self._target_sha256[relative] = file_sha256(os.path.join(self.root, relative))
            else:
                content = git_file_bytes(self.target, relative, self.root)
                self._target_sha256[relative] = None if content is None else hashlib.sha256(content).hexdigest()
        return self._target_sha256[relative]

    def line_map(self, relative: str, version: FileVersion) -> Tuple[Optional[LineMap], Optional[str]]:
        """(map, caveat): None for a version that is the target itself; a
        caveat when the map is only close (the file was recorded with
        uncommitted edits). Raises :class:`Unmappable` with the reason."""
        key = (relative, version)
        if key not in self._maps:
            self._maps[key] = self._line_map(relative, version)
        return self._maps[key]

    def _line_map(self, relative: str, version: FileVersion) -> Tuple[Optional[LineMap], Optional[str]]:
        if version.sha256 == self._sha256_of_target(relative):
            return None, None
        if version.commit is None:
            raise Unmappable("recorded outside git, so its recorded lines are compared as they are")
        short = version.commit[:12]
        recorded = git_file_bytes(version.commit, relative, self.root)
        if recorded is None:
            raise Unmappable(f"recorded at commit {short}, which {self.root} does not have (or not with this "
                             "file), so its recorded lines are compared as they are")
        try:
            text = git_file_diff(version.commit, self.target, relative, self.root)
        except RequestcovError as error:
            raise Unmappable(f"git cannot diff it from commit {short} ({error})") from error
        changes = list(parse_unified_diff(text).values())
        line_map = changes[0].line_map() if changes else LineMap(())
        caveat = None
        if hashlib.sha256(recorded).hexdigest() != version.sha256:
            caveat = f"recorded with uncommitted edits on top of commit {short}: its lines are mapped from that commit"
        return line_map, caveat


def match_recorded_file(path: str, relative: str, recorded: Set[str],
                        by_suffix: Dict[str, List[str]]) -> Optional[str]:
    """The recorded file standing for a changed file, or None."""
    if path in recorded:
        return path
    normalized = os.path.normpath(path)
    if normalized in recorded:
        return normalized
    candidates = by_suffix.get(os.path.basename(relative), [])
    suffix = "/" + relative.replace(os.sep, "/").lstrip("/")
    found = [candidate for candidate in candidates if candidate.replace(os.sep, "/").endswith(suffix)]
    return found[0] if len(found) == 1 else None


#: A group of tests that ran one version of a file, and how its lines read
#: on the diff's new side (None: as they are).
_Group = Tuple[Optional[FileVersion], Optional[LineMap]]


def find_impact(index: CoverageIndex, changes: Dict[str, FileChange], root: str,
                exclude: Optional[str] = None, only_recorded: bool = False,
                versions: Optional[RecordedVersions] = None,
                line_maps: Optional[GitLineMaps] = None) -> ImpactResult:
    """Map each changed file under ``root`` to recorded coverage and statements.

    With ``versions`` (which version of each file each test ran, see
    :class:`RecordedVersions` with ``per_test``) and ``line_maps``, each
    test's recorded lines are read in the version it ran; without them, as
    they are."""
    recorded = set(index.files)
    by_suffix: Dict[str, List[str]] = {}
    for path in index.files:
        by_suffix.setdefault(os.path.basename(path), []).append(path)
    file_number = {path: number for number, path in enumerate(index.files)}
    covered_lines = index.covered_lines_by_file()
    # Line element id of every recorded (file, line), to mark changed lines.
    element_of: Dict[Tuple[int, int], int] = {}
    line_files = index.element_file[:index.line_element_count].tolist()
    line_numbers = index.element_line[:index.line_element_count].tolist()
    for element, (number, line) in enumerate(zip(line_files, line_numbers)):
        element_of[(number, line)] = element
    #: element -> group -> the changed (new side) lines it stands for.
    wanted: Dict[int, Dict[int, Set[int]]] = {}
    #: file number -> (group of each test, the changed file's path).
    test_groups: Dict[int, Tuple[np.ndarray, str]] = {}

    result = ImpactResult(tests=[], lines_hit={}, untested={}, changed={}, matched_by_suffix={})
    for relative, change in sorted(changes.items()):
        absolute = os.path.normpath(os.path.join(root, relative))
        recorded_path = match_recorded_file(absolute, relative, recorded, by_suffix)
        if recorded_path is None and (only_recorded or not relative.endswith(".py")):
            continue
        if recorded_path is not None and recorded_path != absolute:
            result.matched_by_suffix[absolute] = recorded_path
        lines = set(change.lines)
        statements: Optional[Set[int]] = None
        parsed = None
        if not change.deleted and os.path.isfile(absolute):
            try:
                parsed = parse_statements(absolute, exclude)
            except (OSError, UnparsableSource):
                parsed = None
            if parsed is not None:
                statements = parsed.statements
                # A change inside a multi-line statement is a change of that statement.
                lines |= {parsed.first_line(line) for line in change.lines}
        result.changed[absolute] = sorted(change.lines)

        executed_lines: Set[int] = set()
        if recorded_path is not None:
            number = file_number[recorded_path]
            group_of_test, groups = _groups(index, recorded_path, relative, absolute, versions, line_maps, result)
            test_groups[number] = (group_of_test, absolute)
            recorded_lines = _recorded_lines_by_group(index, number, group_of_test, len(groups), covered_lines)
            for group, (_version, line_map) in enumerate(groups):
                for line in sorted(lines):
                    for old in (line_map.backward(line) if line_map else (line,)):
                        element = element_of.get((number, old))
                        if element is not None:
                            wanted.setdefault(element, {}).setdefault(group, set()).add(line)
                if line_map:
                    executed_lines |= {new for new in map(line_map.forward, recorded_lines[group]) if new is not None}
                else:
                    executed_lines |= set(recorded_lines[group])
            if parsed is not None:
                executed_lines = parsed.translate(executed_lines)
        if statements is not None:
            not_run = sorted((lines & statements) - executed_lines)
            if not_run:
                result.untested[absolute] = not_run
    _record_hits(index, wanted, test_groups, result.lines_hit)
    result.tests = sorted(result.lines_hit)
    return result


def _groups(index: CoverageIndex, recorded_path: str, relative: str, absolute: str,
            versions: Optional[RecordedVersions], line_maps: Optional[GitLineMaps],
            result: ImpactResult) -> Tuple[np.ndarray, List[_Group]]:
    """The group of every test (by the version of the file it ran), and each
    group's line map; notes mapped and unmappable versions in ``result``."""
    group_of_test = np.zeros(len(index.tests), dtype=np.int32)
    groups: List[_Group] = [(None, None)]
    if versions is None or line_maps is None:
        return group_of_test, groups
    number_of: Dict[Optional[FileVersion], int] = {None: 0}
    for test, info in enumerate(index.tests):
        version = versions.version_of(info.key, recorded_path)
        group = number_of.get(version)
        if group is None:
            try:
                line_map, caveat = line_maps.line_map(relative, version)  # type: ignore[arg-type]
            except Unmappable as error:
                line_map, caveat = None, str(error)
                result.unmapped.setdefault(absolute, caveat)
            else:
                if line_map is not None:
                    commits = result.mapped.setdefault(absolute, [])
                    if version is not None and version.commit and version.commit not in commits:
                        commits.append(version.commit)
                if caveat is not None:
                    result.unmapped.setdefault(absolute, caveat)
            group = number_of[version] = len(groups)
            groups.append((version, line_map))
        group_of_test[test] = group
    return group_of_test, groups


def _recorded_lines_by_group(index: CoverageIndex, number: int, group_of_test: np.ndarray, count: int,
                             covered_lines: Dict[str, List[int]]) -> List[List[int]]:
    """Lines of file ``number`` that the tests of each group ran."""
    if count == 1:
        return [covered_lines.get(index.files[number], [])]
    in_file = np.flatnonzero((index.flat < index.line_element_count) & (index.element_file[index.flat] == number))
    owners = np.searchsorted(index.offsets, in_file, side="right") - 1
    elements = index.flat[in_file]
    groups = group_of_test[owners]
    return [np.unique(index.element_line[elements[groups == group]]).tolist() for group in range(count)]


def _record_hits(index: CoverageIndex, wanted: Dict[int, Dict[int, Set[int]]],
                 test_groups: Dict[int, Tuple[np.ndarray, str]],
                 lines_hit: Dict[int, Dict[str, List[int]]]) -> None:
    """Note which tests ran which changed lines, in one pass over all coverage:
    a test counts for the lines that its own version's line stands for."""
    if not wanted:
        return
    is_changed = np.zeros(index.element_count, dtype=bool)
    is_changed[list(wanted)] = True
    positions = np.flatnonzero(is_changed[index.flat])
    owners = np.searchsorted(index.offsets, positions, side="right") - 1
    found: Dict[int, Dict[str, Set[int]]] = {}
    for position, test in zip(positions.tolist(), owners.tolist()):
        element = int(index.flat[position])
        group_of_test, path = test_groups[int(index.element_file[element])]
        hit = wanted[element].get(int(group_of_test[test]))
        if hit:
            found.setdefault(test, {}).setdefault(path, set()).update(hit)
    for test, by_path in found.items():
        lines_hit[test] = {path: sorted(lines) for path, lines in sorted(by_path.items())}
