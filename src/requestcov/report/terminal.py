"""Rich tables for the terminal.

Every table of every command goes through :class:`FoldingTable`, so they all
behave alike at any width: when a table is wider than the console, columns
are narrowed widest first, but ids, paths and endpoints (columns marked
``whole``) keep their longest word unbroken as long as the console leaves
room for it; only when it does not is text folded onto more lines. Nothing is
ever cut off with an ellipsis, so an id or a path always appears whole, if
need be over several lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from requestcov.analysis.covered import display_percent
from requestcov.report.summary import Summary

__all__ = ["print_summary", "Col", "Whole", "FoldingTable", "fit_widths", "PLAIN", "ROUTE", "PATH", "ID"]

#: How hard a column holds on to its words when the console is narrow: ids
#: are broken last, then file paths, then column headings, then routes and
#: endpoints, then everything else.
PLAIN, ROUTE, PATH, ID = 0, 1, 2, 3

#: A heading broken at all is broken into pieces this wide at least.
_HEADING_PIECE = 4


@dataclass(frozen=True)
class Col:
    """One column and how hard it keeps its words whole (:data:`PLAIN`,
    :data:`PATH` or :data:`ID`)."""

    header: str
    justify: str = "left"
    whole: int = PLAIN


@dataclass(frozen=True)
class Whole:
    """A cell whose words to keep whole are only ``words`` (the ids in a
    list that also names endpoints), not every word of its text."""

    text: str
    words: Sequence[str]


Cell = Union[str, Text, Whole]


def _words(text: Text) -> List[str]:
    return [word for line in text.plain.split("\n") for word in line.split()]


def _longest(words: Sequence[str]) -> int:
    return max((cell_len(word) for word in words), default=1) or 1


def _capped(natural: Sequence[int], floors: Sequence[int], available: int) -> Optional[List[int]]:
    """The widths ``max(floor, min(natural, cap))`` for the largest cap that
    fits in ``available`` (widest columns narrowed first), or None when even
    the floors do not fit."""
    floors = [min(floor, width) for floor, width in zip(floors, natural)]
    if sum(floors) > available:
        return None
    low, high = 1, max(natural)
    while low < high:  # the largest cap whose widths fit
        middle = (low + high + 1) // 2
        if sum(max(floor, min(width, middle)) for width, floor in zip(natural, floors)) <= available:
            low = middle
        else:
            high = middle - 1
    return [max(floor, min(width, low)) for width, floor in zip(natural, floors)]


def fit_widths(natural: Sequence[int], stages: Sequence[Sequence[int]], available: int) -> List[int]:
    """Content widths (padding and borders excluded) of columns whose natural
    widths add up to more than ``available``: the first of ``stages`` (each
    a floor per column, the words that must stay unbroken) that fits, with
    the columns above their floors narrowed widest first; failing all of
    them, widths capped with no floor but 1."""
    if sum(natural) <= available:
        return list(natural)
    for floors in stages:
        widths = _capped(natural, floors, available)
        if widths is not None:
            return widths
    return _capped(natural, [1] * len(natural), max(available, len(natural))) or [1] * len(natural)


class FoldingTable:
    """A rich table whose cells are plain text (never markup: ids and paths
    come from requests and files and may hold brackets), :class:`Text` or
    :class:`Whole`."""

    def __init__(self, title: Optional[str], columns: Sequence[Col], *, title_justify: str = "center") -> None:
        self.title = title
        self.columns = list(columns)
        self.title_justify = title_justify
        self.rows: List[List[Text]] = []
        #: Per column, the longest word that must stay whole and the longest word of any cell.
        self._kept = [1] * len(self.columns)
        self._longest = [1] * len(self.columns)
        self._natural = [cell_len(column.header) or 1 for column in self.columns]

    def add_row(self, *cells: Cell) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        row = []
        for number, cell in enumerate(cells):
            text = Text(cell.text) if isinstance(cell, Whole) else cell if isinstance(cell, Text) else Text(cell)
            words = _words(text)
            longest = _longest(words)
            self._longest[number] = max(self._longest[number], longest)
            self._kept[number] = max(self._kept[number], _longest(cell.words) if isinstance(cell, Whole) else longest)
            self._natural[number] = max(self._natural[number],
                                        max((cell_len(line) for line in text.plain.split("\n")), default=1))
            row.append(text)
        self.rows.append(row)

    def __len__(self) -> int:
        return len(self.rows)

    def _stages(self) -> List[List[int]]:
        """The floors tried one after the other: each stage gives up keeping
        whole the words of one more kind of column."""
        headings = [_longest(column.header.split()) for column in self.columns]
        kept, longest = self._kept, self._longest
        whole = [column.whole for column in self.columns]
        count = range(len(whole))

        def floors(least: int, with_headings: int) -> List[int]:
            """Words whole in columns of priority ``least`` and up (plain ones
            too while ``least`` is above ROUTE), headings up to ``with_headings``."""
            result = []
            for n in count:
                word = (kept[n] if whole[n] >= max(least, 1) else longest[n] if whole[n] == PLAIN and least <= PATH
                        else 1)
                result.append(max(word, min(headings[n], with_headings)))
            return result

        everything = max(headings, default=1)
        return [
            [max(heading, word) for heading, word in zip(headings, longest)],  # every word and heading
            floors(PATH, everything),  # routes may fold
            floors(PATH, _HEADING_PIECE),  # headings too, in pieces
            floors(PATH, 2),  # headings in the smallest pieces, before a path breaks
            floors(ID, _HEADING_PIECE),  # file paths too
            floors(ID, 1),  # all but ids
        ]

    def render(self, width: int) -> Table:
        """The rich table, its column widths fitted to ``width`` cells."""
        count = len(self.columns)
        overhead = 3 * count + 1  # a border left of each column and one at the end, one space each side
        widths: List[Optional[int]] = [None] * count
        if sum(self._natural) + overhead > width:
            widths = list(fit_widths(self._natural, self._stages(), width - overhead))
        table = Table(title=self.title, title_justify=self.title_justify)  # type: ignore[arg-type]
        for column, column_width in zip(self.columns, widths):
            table.add_column(column.header, justify=column.justify, overflow="fold",  # type: ignore[arg-type]
                             width=column_width)
        for row in self.rows:
            table.add_row(*row)
        return table

    def print(self, console: Console) -> None:
        console.print(self.render(console.width))


def print_summary(summary: Summary, console: Console, limit: Optional[int] = None,
                  timings: bool = True) -> None:
    """The requests table. ``timings=False`` (a dedupData.yaml, which records
    neither durations nor processes) leaves the duration column and the
    process count out instead of showing zeros."""
    rows = summary.rows if limit is None else summary.rows[:limit]
    # A dedupData.yaml has no methods, routes or statuses either: columns no
    # request has a value for are left out.
    requests = summary.request_fields
    columns = [Col("id", whole=ID)]
    if requests:
        columns += [Col("method"), Col("route", whole=ROUTE), Col("status", "right")]
    columns += [Col("stmts", "right"), Col("files", "right")]
    if timings:
        columns.append(Col("ms", "right"))
    table = FoldingTable("Requests recorded", columns, title_justify="left")
    for row in rows:
        status_style = "red" if row.status is not None and row.status >= 500 else (
            "yellow" if row.status is not None and row.status >= 400 else ""
        )
        cells: List[Cell] = [row.id]
        if requests:
            cells += [row.method, row.route or row.path,
                      Text("" if row.status is None else str(row.status), style=status_style)]
        cells += [str(row.statements), str(row.files)]
        if timings:
            cells.append(f"{row.duration_ms:.1f}")
        table.add_row(*cells)
    table.print(console)
    hidden = summary.hidden + len(summary.rows) - len(rows)
    if hidden > 0:
        console.print(f"... {hidden} more requests (use --limit to show more)")
    totals = summary.totals
    processes = (f"; from {totals.processes} process{'es' if totals.processes != 1 else ''}" if timings else "")
    console.print(
        f"[bold]{totals.requests}[/] requests ran [bold]{totals.run_by_requests}[/] of {totals.statements} "
        f"statements ({display_percent(totals.percent_by_requests, 1)}) in {totals.files} files; "
        + (f"start-up code ran {totals.startup_only} more, " if totals.startup_known
           else "start-up code unknown (no start-up records in a dedupData.yaml), ")
        + f"{totals.missed} never ran "
        f"({display_percent(totals.percent, 1)} run in all, as `requestcov gaps` counts){processes}"
    )
    if totals.files_without_source:
        console.print(f"{totals.files_without_source} recorded file{'s' if totals.files_without_source != 1 else ''} "
                      f"not found here: in no total, their recorded lines counted as statements per request")
