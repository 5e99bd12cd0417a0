"""The rows :class:`~requestcov.report.terminal.FoldingTable` lays out itself
(a console that writes no styles) read exactly as rich's own table."""

from __future__ import annotations

from io import StringIO
from typing import List, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from requestcov.report.terminal import ID, PATH, PLAIN, ROUTE, Col, FoldingTable, Whole


def _both(table: FoldingTable, width: int, **console: object) -> List[str]:
    """The table printed by :meth:`FoldingTable.print` and rich's own
    rendering of :meth:`FoldingTable.render`, on like consoles."""
    outputs = []
    for rich_only in (False, True):
        buffer = StringIO()
        out = Console(file=buffer, width=width, color_system=None, **console)  # type: ignore[arg-type]
        if rich_only:
            out.print(table.render(out.width))
        else:
            table.print(out)
        outputs.append(buffer.getvalue())
    return outputs


_ASCII = st.text(alphabet="abc-/0123456789 []:,", min_size=0, max_size=40)
#: Wide, combining and zero-width characters, tabs and control codes: cells rich lays out.
_ANY = st.text(alphabet=st.sampled_from(list("ab c-/,[]") + ["\n", "\t", "é", "中", "文", "\u0301", "\u200d",
                                                              "\x07", "😀", "\ufe0f"]), max_size=30)


def _table(rows: Sequence[Sequence[object]], justifies: Sequence[str], title: str) -> FoldingTable:
    kinds = [ID, PLAIN, ROUTE, PATH]
    table = FoldingTable(title, [Col(f"col {n}" if n % 2 else "", justify, whole=kinds[n % 4])
                                 for n, justify in enumerate(justifies)])
    for row in rows:
        table.add_row(*row)  # type: ignore[arg-type]
    return table


@settings(max_examples=300, deadline=None)
@given(data=st.data(), columns=st.integers(1, 4), width=st.integers(8, 140))
def test_plain_rows_are_the_bytes_rich_writes(data: st.DataObject, columns: int, width: int) -> None:
    """Random cells of printable ASCII (and now and then one rich must lay
    out: wide, combining, tabs, control codes, a styled Text), long enough to
    fold and wrap at any console width, every justification."""
    justifies = data.draw(st.lists(st.sampled_from(["left", "right", "center", "full"]),
                                   min_size=columns, max_size=columns))
    cell = st.one_of(_ASCII, _ASCII.map(lambda text: text * 3), _ANY,
                     _ASCII.map(lambda text: Text(text, style="red")),
                     st.lists(st.text(alphabet="abcdef-/0123456789", min_size=1, max_size=12), min_size=1,
                              max_size=8).map(lambda ids: Whole(", ".join(ids), [f"{i}," for i in ids])))
    rows = data.draw(st.lists(st.lists(cell, min_size=columns, max_size=columns), max_size=6))
    title = data.draw(st.sampled_from(["t", "Duplicate tests: 3 of 9 can go, 6 stay", "", "[bold]x[/] wide " * 8]))
    plain, rich = _both(_table(rows, justifies, title), width)
    assert plain == rich


def test_a_dedup_like_table_of_long_id_lists_at_several_widths() -> None:
    """Long lists of ids folding over many lines next to short cells,
    unicode endpoints, an ASCII-only console."""
    table = FoldingTable("Duplicate tests", [Col("keep", whole=ID), Col("kind"), Col("drop", whole=ID),
                                              Col("endpoint", whole=ROUTE), Col("n", "right")])
    for number in range(40):
        ids = [f"test-set-{number % 3}/test-{number * 97 + k}" for k in range(number % 17 + 1)]
        endpoint = "GET /api/v1/résumé/中文 200" if number % 5 == 0 else f"POST /api/v1/resource{number}/<id> 201"
        table.add_row(f"test-set-0/test-{number}", "exact" if number % 2 else "near 0.964",
                      Whole(", ".join(ids), [f"{i}," for i in ids]), endpoint, str(number * 1000))
    for width in (20, 41, 60, 80, 100, 160, 250):
        plain, rich = _both(table, width)
        assert plain == rich
        assert plain.count("\n") > 40
        ascii_plain, ascii_rich = _both(table, width, legacy_windows=False, safe_box=True,
                                        force_terminal=False, emoji=False)
        assert ascii_plain == ascii_rich


def test_a_table_of_no_rows_and_one_of_empty_cells() -> None:
    empty = FoldingTable("nothing", [Col("a"), Col("b", "right")])
    assert _both(empty, 40)[0] == _both(empty, 40)[1]
    blanks = FoldingTable(None, [Col(""), Col("")])
    blanks.add_row("", "")
    blanks.add_row("x", "")
    plain, rich = _both(blanks, 30)
    assert plain == rich
