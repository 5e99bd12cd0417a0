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

import re
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Union

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions
from rich.measure import Measurement
from rich.padding import Padding
from rich.segment import Segment
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


def _plain(text: str) -> bool:
    """Whether every line of ``text`` is printable ASCII: one cell a
    character, nothing rich strips or expands, so the text wraps as
    :func:`_wrapped` wraps it."""
    return text.isascii() and (text.isprintable() or text.replace("\n", " ").isprintable())


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
        #: Each row's cells as given to rich (a str for a cell that was a str
        #: or a :class:`Whole`) and, per cell, its text when :func:`_plain`, else None.
        self.rows: List[List[Union[str, Text]]] = []
        self._plains: List[List[Optional[str]]] = []
        #: Per column, the longest word that must stay whole and the longest word of any cell.
        self._kept = [1] * len(self.columns)
        self._longest = [1] * len(self.columns)
        self._natural = [cell_len(column.header) or 1 for column in self.columns]

    def add_row(self, *cells: Cell) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        row: List[Union[str, Text]] = []
        plains: List[Optional[str]] = []
        for number, cell in enumerate(cells):
            given = cell.text if isinstance(cell, Whole) else cell
            plain = _plain_cell(given)
            if plain is not None:  # the same figures as below, a cell a character
                words = plain.split()
                longest = max(map(len, words), default=1) or 1
                natural = max(map(len, plain.split("\n")))
            else:
                text = given if isinstance(given, Text) else Text(given)
                words = _words(text)
                longest = _longest(words)
                natural = max((cell_len(line) for line in text.plain.split("\n")), default=1)
            self._longest[number] = max(self._longest[number], longest)
            self._kept[number] = max(self._kept[number], _longest(cell.words) if isinstance(cell, Whole) else longest)
            self._natural[number] = max(self._natural[number], natural)
            row.append(given)
            plains.append(plain)
        self.rows.append(row)
        self._plains.append(plains)

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

    def _fitted(self, width: int) -> List[Optional[int]]:
        """Content widths fitted to ``width`` cells; None for a column rich
        sizes to its contents (the whole table fits)."""
        count = len(self.columns)
        overhead = 3 * count + 1  # a border left of each column and one at the end, one space each side
        if sum(self._natural) + overhead > width:
            return list(fit_widths(self._natural, self._stages(), width - overhead))
        return [None] * count

    def _table(self, widths: Sequence[Optional[int]], rows: Iterable[Sequence[Union[str, Text]]]) -> Table:
        table = Table(title=self.title, title_justify=self.title_justify)  # type: ignore[arg-type]
        for column, column_width in zip(self.columns, widths):
            table.add_column(column.header, justify=column.justify, overflow="fold",  # type: ignore[arg-type]
                             width=column_width)
        for row in rows:
            table.add_row(*(Text(cell) if isinstance(cell, str) else cell for cell in row))
        return table

    def render(self, width: int) -> Table:
        """The rich table, its column widths fitted to ``width`` cells."""
        return self._table(self._fitted(width), self.rows)

    def print(self, console: Console) -> None:
        """The table on ``console``. Where rich would write no styles (not a
        terminal, no colours forced) the body is laid out by
        :class:`_PlainTable`, the same characters rich writes, without
        rich's work per cell; elsewhere rich renders it."""
        if console.color_system is None and not console.is_terminal and not console.legacy_windows:
            console.print(_PlainTable(self))
        else:
            console.print(self.render(console.width))


def _plain_cell(cell: Union[str, Text]) -> Optional[str]:
    """The text of a cell that :class:`_PlainTable` lays out itself: plain
    ASCII (:func:`_plain`), from a str or from a :class:`Text` that sets
    nothing of its own but styles (which a console without colours drops)."""
    if isinstance(cell, Text):
        if (cell.justify is not None or cell.overflow is not None or cell.no_wrap is not None
                or cell.tab_size is not None or cell.end != "\n"):
            return None
        cell = cell.plain
    return cell if _plain(cell) else None


#: The ways :func:`_wrapped` justifies a cell (others go through rich).
_JUSTIFIED = ("left", "right", "center")

#: A word and the spaces around it, as rich's wrapping finds them.
_WORD = re.compile(r"\s*\S+\s*")


def _breaks(line: str, width: int) -> List[int]:
    """Where rich breaks a line of one-cell characters ``width`` cells wide
    (words whole when they fit, longer words folded)."""
    breaks: List[int] = []
    offset = 0
    for match in _WORD.finditer(line):
        start, word = match.start(), match.group()
        length = len(word.rstrip())
        if width - offset >= length:
            offset += len(word)
        elif length > width:
            size = len(word)
            for piece in range(0, size, width):
                if start + piece:
                    breaks.append(start + piece)
            offset = size - (size - 1) // width * width
        elif offset and start:
            breaks.append(start)
            offset = len(word)
    return breaks


def _wrapped(text: str, width: int, justify: str) -> List[str]:
    """The lines of a :func:`_plain` cell as rich lays them out in a column
    ``width`` cells wide (``justify`` left, right or center), each exactly
    ``width`` characters, the column's padding not included."""
    lines = []
    for line in text.split("\n"):
        if len(line) <= width:
            pieces = [line]
        else:
            breaks = _breaks(line, width)
            pieces = [line[start:end] for start, end in zip([0, *breaks], [*breaks, len(line)])]
        for piece in pieces:
            if len(piece) > width:  # spaces past the width go first
                stripped = piece.rstrip()
                piece = piece[:len(piece) - min(len(piece) - len(stripped), len(piece) - width)]
            if justify == "left":
                piece = piece[:width]
                lines.append(piece + " " * (width - len(piece)))
            elif justify == "right":
                piece = piece.rstrip()[:width]
                lines.append(" " * (width - len(piece)) + piece)
            else:
                piece = piece.rstrip()[:width]
                piece = " " * ((width - len(piece)) // 2) + piece
                lines.append(piece + " " * (width - len(piece)))
    return lines


class _PlainTable:
    """A :class:`FoldingTable` as rich renders it without styles: rich lays
    out the title, the heading and the borders (a table of no rows, the
    same widths), and the rows are laid out here, cell by cell as rich's
    wrapping would, a :func:`_plain` cell by :func:`_wrapped`, any other by
    rich itself. Where rich would narrow the columns further than the
    table asks (or a column would be empty), rich renders the whole table."""

    def __init__(self, table: FoldingTable) -> None:
        self.table = table

    def _widths(self, console: Console, options: ConsoleOptions, fitted: Sequence[Optional[int]]) -> Optional[List[int]]:
        """Each column's width, padding included, as rich's table works it
        out; None when rich would narrow them to fit."""
        table = self.table
        available = options.max_width - (len(table.columns) + 1)
        measure_options = options.update_width(available)
        widths = []
        for number, (column, width) in enumerate(zip(table.columns, fitted)):
            if width is not None:
                widths.append(min(width + 2, available))
                continue
            widest = Measurement.get(console, measure_options, Padding(column.header, (0, 1))).maximum
            for row, plains in zip(table.rows, table._plains):
                plain = plains[number]
                if plain is not None:
                    widest = max(widest, min(max(map(len, plain.split("\n"))) + 2, available))
                else:
                    cell = row[number]
                    widest = max(widest, Measurement.get(console, measure_options,
                                                         Padding(Text(cell) if isinstance(cell, str) else cell,
                                                                 (0, 1))).maximum)
            widths.append(widest or 1)
        if sum(widths) > available or min(widths, default=3) < 3:
            return None
        return widths

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterable[Union[Table, Segment]]:
        table = self.table
        fitted = table._fitted(console.width)
        widths = self._widths(console, options, fitted) if table.rows else None
        if widths is None:
            yield table._table(fitted, table.rows)
            return
        head = table._table([width - 2 for width in widths], [])
        lines = list(Segment.split_lines(console.render(head, options)))
        line = Segment.line()
        for segments in lines[:-1]:  # the title, the heading and its rule
            yield from segments
            yield line
        box = head.box.substitute(options, safe=console.safe_box) if head.box else None
        assert box is not None
        last = len(table.rows) - 1
        for number, (row, plains) in enumerate(zip(table.rows, table._plains)):
            cells = []
            for cell, plain, column, width in zip(row, plains, table.columns, widths):
                if plain is not None and column.justify in _JUSTIFIED:
                    cells.append([f" {text} " for text in _wrapped(plain, width - 2, column.justify)])
                else:
                    rendered = console.render_lines(
                        Padding(Text(cell) if isinstance(cell, str) else cell, (0, 1)),
                        options.update(width=width, justify=column.justify, no_wrap=False,  # type: ignore[arg-type]
                                       overflow="fold", height=None, highlight=False))
                    cells.append(["".join(segment.text for segment in segments) for segments in rendered])
            height = max(map(len, cells))
            if number == last:
                left, divider, right = box.foot_left, box.foot_vertical, box.foot_right
            else:
                left, divider, right = box.mid_left, box.mid_vertical, box.mid_right
            for cell, width in zip(cells, widths):
                if len(cell) < height:
                    cell.extend([" " * width] * (height - len(cell)))
            for parts in zip(*cells):
                yield Segment(left + divider.join(parts) + right)
                yield line
        yield from lines[-1]  # the bottom border
        yield line


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
