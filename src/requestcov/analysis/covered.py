"""The one definition of a statement and of a covered statement.

Every figure requestcov prints — ``report``, ``gaps``, ``hot``, ``minimize``,
``dedup``, the HTML report and the JSON export — counts what this module
counts, so no two of them can disagree:

- a *statement* is what coverage.py's parser calls one, with its exclusions
  (``# pragma: no cover`` and the rest, see
  :mod:`requestcov.analysis.statements`);
- a recorded line of a multi-line statement stands for the statement's first
  line, as ``coverage report`` maps it; recorded lines that belong to no
  statement (an excluded line) count for nothing;
- a file whose source is gone or is not Python keeps its recorded lines as
  they are, and is left out of every total (there is nothing to count them
  against).

Start-up is its own category: statements a process's start-up records ran
(imports, ``def`` lines, module constants) and no request ran. They count as
run in the total, as they do in ``coverage report`` on requestcov's export
(where they are the ``startup`` context), and are always shown apart, never
as missed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Set, Tuple

import numpy as np

from requestcov.analysis.statements import FileStatements, UnparsableSource, exclusion_regex, parse_statements
from requestcov.records import LinesByFile, RequestRecord

__all__ = ["StatementTable", "FileTally", "Tally", "fold_records", "tally", "percent", "display_percent"]


#: Line lists up to this long are folded in plain Python and remembered.
_MEMO_LONGEST = 256
#: Recorded lines (summed over the pairs) remembered at most: some tens of MB.
_MEMO_LINES = 1_000_000


def percent(part: int, whole: int) -> float:
    """``part`` of ``whole`` in percent; 100 when there is nothing to cover, as coverage.py says."""
    return 100.0 * part / whole if whole else 100.0


def display_percent(value: float, precision: int = 0) -> str:
    """A percentage rounded as ``coverage report`` rounds it: never up to 100
    while something is missed, never down to 0 while something ran."""
    nearest = 1.0 / 10 ** precision
    if 0 < value < nearest:
        value = nearest
    elif 100.0 - nearest < value < 100.0:
        value = 100.0 - nearest
    return f"{value:.{precision}f}%"


class StatementTable:
    """Each measured file parsed once, and the rule that turns recorded lines
    into covered statements (:meth:`fold`)."""

    def __init__(self, exclude: Optional[str] = None) -> None:
        self.exclude = exclusion_regex() if exclude is None else exclude
        self._parsed: Dict[str, Optional[FileStatements]] = {}
        self._problems: Dict[str, str] = {}
        #: Per file, recorded line -> first line of its statement, -1 for no statement.
        self._maps: Dict[str, Optional[np.ndarray]] = {}
        #: The same maps as lists, for the short line lists most files of a request have.
        self._lists: Dict[str, Optional[List[int]]] = {}
        #: (path, recorded lines) -> folded statements: the requests of one
        #: endpoint record the same lines in most files, so a large store
        #: folds each distinct line set once. Bounded (see :meth:`fold`).
        self._folded: Dict[Tuple[str, Tuple[int, ...]], List[int]] = {}
        self._memo_lines = 0
        #: Every file :meth:`fold_flat` met -> its slot: the maps of all of
        #: them laid end to end (:meth:`_joined`), so the lines of a whole
        #: request are folded by a few numpy calls, not one call per file.
        self._slots: Dict[str, int] = {}
        self._slot_maps: List[Optional[np.ndarray]] = []
        self._joined_maps: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = None

    def parsed(self, path: str) -> Optional[FileStatements]:
        """The file's statements; None when it is gone or not Python (:meth:`problem` says which)."""
        if path not in self._parsed:
            self._parsed[path] = self._parse(path)
        return self._parsed[path]

    def _parse(self, path: str) -> Optional[FileStatements]:
        if not os.path.isfile(path):
            self._problems[path] = "file no longer exists"
            return None
        try:
            return parse_statements(path, self.exclude)
        except OSError as error:
            self._problems[path] = f"cannot read it: {error.strerror or error}"
        except UnparsableSource as error:
            self._problems[path] = f"not parsable as Python: {error}"
        return None

    def problem(self, path: str) -> str:
        """Why ``path`` has no statements; empty when it has."""
        self.parsed(path)
        return self._problems.get(path, "")

    def statements(self, path: str) -> Optional[Set[int]]:
        parsed = self.parsed(path)
        return None if parsed is None else parsed.statements

    def _map(self, path: str) -> Optional[np.ndarray]:
        if path not in self._maps:
            parsed = self.parsed(path)
            if parsed is None:
                self._maps[path] = None
            else:
                highest = max(max(parsed.statements | parsed.excluded, default=0), parsed.line_count)
                # first_line() of every line 1 .. highest, kept where it is a statement.
                table = np.arange(highest + 1, dtype=np.int64)
                if parsed.first_lines:
                    moved = np.fromiter(parsed.first_lines, np.int64, len(parsed.first_lines))
                    inside = moved <= highest
                    table[moved[inside]] = np.fromiter(parsed.first_lines.values(), np.int64,
                                                       len(parsed.first_lines))[inside]
                statements = np.fromiter(parsed.statements, np.int64, len(parsed.statements))
                table[~np.isin(table, statements)] = -1
                table[0] = -1
                self._maps[path] = table
        return self._maps[path]

    def fold(self, path: str, lines: Iterable[int]) -> List[int]:
        """The statements ``lines`` (recorded in ``path``) cover, sorted; the
        lines themselves, sorted and distinct, when the file has no statements here."""
        if isinstance(lines, (list, tuple)) and len(lines) <= _MEMO_LONGEST:
            key = (path, tuple(lines))
            folded = self._folded.get(key)
            if folded is None:
                self._memo_lines += len(lines)
                if self._memo_lines > _MEMO_LINES:
                    # Sets that never repeat: memory stays bounded, and each fold costs what it did.
                    self._folded.clear()
                    self._memo_lines = len(lines)
                folded = self._folded[key] = self._fold_short(path, key[1])
            return list(folded)
        return self._fold_array(path, lines)

    def _fold_short(self, path: str, lines: Tuple[int, ...]) -> List[int]:
        """:meth:`_fold_array` without numpy's per-call cost, for a short list."""
        table = self._list(path)
        if table is None:
            return sorted(set(lines))
        highest = len(table)
        found = {table[line] for line in lines if 0 <= line < highest}
        found.discard(-1)
        return sorted(found)

    def _list(self, path: str) -> Optional[List[int]]:
        if path not in self._lists:
            table = self._map(path)
            self._lists[path] = None if table is None else table.tolist()
        return self._lists[path]

    def _fold_array(self, path: str, lines: Iterable[int]) -> List[int]:
        table = self._map(path)
        if isinstance(lines, (list, tuple)):
            numbers = np.asarray(lines, dtype=np.int64).reshape(-1)
        else:
            numbers = np.fromiter((int(line) for line in lines), dtype=np.int64)
        if table is None:
            return np.unique(numbers).tolist()
        numbers = numbers[(numbers >= 0) & (numbers < table.shape[0])]
        mapped = table[numbers]
        return np.unique(mapped[mapped >= 0]).tolist()

    def fold_flat(self, paths: Sequence[str], counts: np.ndarray,
                  lines: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """:meth:`fold` of many files at once: ``lines`` holds the recorded
        lines of ``paths`` one file after the other (``counts[i]`` of file
        ``i``); returns each line's statement and whether it stands for one.
        A line of a file without statements here stands for itself, as in
        :meth:`fold`. Sorting and removing repeats is the caller's business
        (an index sorts all of a request's lines together anyway)."""
        try:
            slots = np.fromiter(map(self._slots.__getitem__, paths), np.int64, len(paths))
        except KeyError:
            slots = np.fromiter(map(self._slot, paths), np.int64, len(paths))
        joined, bases, limits, plain = self._joined()
        line_base = np.repeat(bases[slots], counts)
        inside = (lines >= 0) & (lines < np.repeat(limits[slots], counts))
        folded = np.full(lines.shape[0], -1, dtype=np.int64)
        folded[inside] = joined[line_base[inside] + lines[inside]]
        kept = folded >= 0
        if plain[slots].any():
            as_recorded = np.repeat(plain[slots], counts)
            folded[as_recorded] = lines[as_recorded]
            kept |= as_recorded
        return folded, kept

    def _slot(self, path: str) -> int:
        slot = self._slots.get(path)
        if slot is None:
            slot = self._slots[path] = len(self._slot_maps)
            self._slot_maps.append(self._map(path))
            self._joined_maps = None
        return slot

    def _joined(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The maps of every slot end to end, where each starts, how long
        each is, and which slots are files without statements."""
        if self._joined_maps is None:
            maps = [np.empty(0, dtype=np.int64) if table is None else table for table in self._slot_maps]
            limits = np.fromiter(map(len, maps), np.int64, len(maps))
            bases = np.zeros(len(maps), dtype=np.int64)
            np.cumsum(limits[:-1], out=bases[1:])
            plain = np.fromiter((table is None for table in self._slot_maps), bool, len(maps))
            self._joined_maps = (np.concatenate(maps) if maps else np.empty(0, dtype=np.int64), bases, limits, plain)
        return self._joined_maps

    def fold_lines(self, lines: Mapping[str, Iterable[int]]) -> LinesByFile:
        """:meth:`fold` for every file; files left with nothing are dropped."""
        result: LinesByFile = {}
        for path, numbers in lines.items():
            folded = self.fold(path, numbers)
            if folded:
                result[path] = folded
        return result

    def fold_record(self, record: RequestRecord) -> RequestRecord:
        """A copy of ``record`` whose lines are the statements it covered (arcs as recorded)."""
        return replace(record, lines=self.fold_lines(record.lines))

    def count(self, lines: Mapping[str, Iterable[int]]) -> int:
        """How many statements ``lines`` cover: what every per-test figure shows."""
        return sum(len(self.fold(path, numbers)) for path, numbers in lines.items())


def fold_records(records: Iterable[RequestRecord], table: Optional[StatementTable] = None) -> Iterator[RequestRecord]:
    """Records with their lines folded into covered statements, one at a time."""
    table = table or StatementTable()
    for record in records:
        yield table.fold_record(record)


@dataclass
class FileTally:
    """One file's statements split into the three categories."""

    path: str
    #: None when the file is gone or not Python: then it is in no total.
    statements: Optional[Set[int]]
    #: Statements some request ran (recorded lines when there are no statements).
    by_requests: Set[int] = field(default_factory=set)
    #: Statements only start-up code ran (imports, ``def`` lines, constants).
    startup_only: Set[int] = field(default_factory=set)
    problem: str = ""

    @property
    def missed(self) -> Set[int]:
        """Statements nothing ran, neither a request nor start-up."""
        if self.statements is None:
            return set()
        return self.statements - self.by_requests - self.startup_only

    @property
    def run(self) -> Set[int]:
        return self.by_requests | self.startup_only

    @property
    def statement_count(self) -> int:
        return 0 if self.statements is None else len(self.statements)

    @property
    def percent(self) -> float:
        """Run (by requests or at start-up) as a share of statements: ``coverage report``'s figure."""
        return percent(len(self.run), self.statement_count)

    @property
    def percent_by_requests(self) -> float:
        return percent(len(self.by_requests), self.statement_count)


@dataclass
class Tally:
    files: List[FileTally]

    def _counted(self) -> List[FileTally]:
        return [item for item in self.files if item.statements is not None]

    @property
    def skipped(self) -> List[Tuple[str, str]]:
        """(path, reason) of files in no total."""
        return [(item.path, item.problem) for item in self.files if item.statements is None]

    @property
    def statements(self) -> int:
        return sum(item.statement_count for item in self._counted())

    @property
    def by_requests(self) -> int:
        return sum(len(item.by_requests) for item in self._counted())

    @property
    def startup_only(self) -> int:
        return sum(len(item.startup_only) for item in self._counted())

    @property
    def run(self) -> int:
        return self.by_requests + self.startup_only

    @property
    def missed(self) -> int:
        return sum(len(item.missed) for item in self._counted())

    @property
    def percent(self) -> float:
        return percent(self.run, self.statements)

    @property
    def percent_by_requests(self) -> float:
        return percent(self.by_requests, self.statements)

    def to_json(self) -> dict:
        return {
            "statements": self.statements, "run": self.run, "run_by_requests": self.by_requests,
            "startup_only": self.startup_only, "missed": self.missed,
            "percent": round(self.percent, 2), "percent_by_requests": round(self.percent_by_requests, 2),
        }


def tally(requests: Mapping[str, Iterable[int]], startup: Optional[Mapping[str, Iterable[int]]] = None,
          table: Optional[StatementTable] = None) -> Tally:
    """Split every file that requests or start-up touched into run by
    requests, run only at start-up, and missed. ``requests`` and ``startup``
    map paths to recorded lines (folded here, so folded ones do too)."""
    table = table or StatementTable()
    startup = startup or {}
    files: List[FileTally] = []
    for path in sorted(set(requests) | set(startup)):
        by_requests = set(table.fold(path, requests.get(path, ())))
        at_startup = set(table.fold(path, startup.get(path, ())))
        files.append(FileTally(
            path=path, statements=table.statements(path), by_requests=by_requests,
            startup_only=at_startup - by_requests, problem=table.problem(path),
        ))
    return Tally(files)
