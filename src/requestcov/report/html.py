"""``requestcov html``: a static report a person opens in a browser.

Everything lives in the output folder: pages, one stylesheet and one script,
no server and nothing fetched from the network. Each file page inlines one
JSON table of the requests that ran the file and, per line, an index into a
list of distinct request sets, so a line run by 5,000 requests costs a few
bytes and the page stays small; the script builds the "who ran this line"
panel from it on demand. Jinja2 autoescapes every value, and the JSON is
escaped for a ``<script>`` element, so hostile test ids and paths stay text.
"""

from __future__ import annotations

import json
import os
import posixpath
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from requestcov import __version__
from requestcov.analysis.covered import display_percent
from requestcov.errors import RequestcovError
from requestcov.records import RequestRecord
from requestcov.report.htmlmodel import DUPLICATE_SCOPE, FileEntry, ReportModel, build_model

__all__ = ["HtmlReport", "write_html_report", "line_ranges", "script_json"]

_ASSETS = ("report.css", "report.js")


@dataclass(frozen=True)
class HtmlReport:
    """Where the report went and what it holds."""

    index: Path
    pages: int
    requests: int
    files: int
    #: Statements run, by requests or at start-up, in percent; None without source.
    percent: Optional[float]
    statements: int = 0
    run_by_requests: int = 0
    startup_only: int = 0
    missed: int = 0


def write_html_report(records: Iterable[RequestRecord], directory: "str | os.PathLike[str]",
                      *, title: str = "requestcov report", exclude: Optional[str] = None,
                      startup: Optional[Mapping[str, Iterable[int]]] = None) -> HtmlReport:
    """Write the report into ``directory`` (created when missing); ``startup``
    maps paths to the lines start-up code ran, shown as their own category."""
    output = Path(directory)
    model = build_model(list(records), title=title, exclude=exclude, startup=startup)
    environment = _environment()
    generated = time.strftime("%Y-%m-%d %H:%M:%S")
    pages = 0
    try:
        for folder in ("", "assets", "tests", "files", "endpoints"):
            (output / folder).mkdir(parents=True, exist_ok=True)
        for asset in _ASSETS:
            text = resources.files("requestcov.report").joinpath("templates").joinpath(asset).read_text("utf-8")
            (output / "assets" / asset).write_text(text, encoding="utf-8")

        def render(page: str, template: str, **values: object) -> None:
            nonlocal pages
            root = "../" if "/" in page else ""
            html = environment.get_template(template).render(
                model=model, root=root, generated=generated, version=__version__, **values
            )
            (output / page).write_text(html, encoding="utf-8")
            pages += 1

        render("index.html", "index.html", scope=", ".join(DUPLICATE_SCOPE))
        for endpoint in model.endpoints:
            render(endpoint.page, "endpoint.html", endpoint=endpoint)
        for entry in model.files:
            render(entry.page, "file.html", file=entry, rows=_source_rows(entry),
                   line_data=script_json(_line_data(model, entry)))
        for test in model.tests:
            render(test.page, "test.html", test=test)
    except OSError as error:
        raise RequestcovError(f"cannot write the HTML report to {output}: {error.strerror or error}") from error
    return HtmlReport(output / "index.html", pages, len(model.tests), len(model.files), model.percent,
                      model.statement_count, model.covered_count, model.startup_count, model.missed_count)


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("requestcov", "report/templates"),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["percent"] = _percent
    environment.filters["ranges"] = line_ranges
    return environment


def _percent(value: Optional[float]) -> str:
    """Rounded as ``coverage report`` and the CLI round: a gap never shows as 100%."""
    return "n/a" if value is None else display_percent(value, 1)


def line_ranges(lines: Iterable[int]) -> List[Tuple[int, int]]:
    """``[1, 2, 3, 7]`` -> ``[(1, 3), (7, 7)]``: a test page lists runs of lines."""
    ranges: List[Tuple[int, int]] = []
    for line in sorted(set(lines)):
        if ranges and line == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], line)
        else:
            ranges.append((line, line))
    return ranges


def script_json(value: object) -> Markup:
    """JSON safe inside ``<script type="application/json">``: ``<``, ``>`` and
    ``&`` are escaped so no string can close the element."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)


@dataclass(frozen=True)
class SourceRow:
    number: int
    text: str
    #: "run" (a request ran it), "startup" (only start-up code ran it),
    #: "miss" (nothing ran it) or "" (not a statement).
    state: str
    requests: int


def _source_rows(entry: FileEntry) -> List[SourceRow]:
    statements = entry.source.statements
    startup = entry.startup_only
    rows = []
    if entry.source.lines:
        for number, text in enumerate(entry.source.lines, start=1):
            ran = len(entry.line_tests.get(number, ()))
            if ran:
                state = "run"
            elif number in startup:
                state = "startup"
            elif statements is not None and number in statements:
                state = "miss"
            else:
                state = ""
            rows.append(SourceRow(number, text, state, ran))
    else:  # no source here: still list the lines that ran
        for number in sorted(set(entry.line_tests) | startup):
            ran = len(entry.line_tests.get(number, ()))
            rows.append(SourceRow(number, "", "run" if ran else "startup", ran))
    return rows


def _line_data(model: ReportModel, entry: FileEntry) -> Dict[str, object]:
    """One table of the file's requests and, per line, which of them ran it.

    Consecutive lines of a block are usually run by the same requests, so each
    distinct request list is stored once and lines point at it.
    """
    local: Dict[int, int] = {number: position for position, number in enumerate(entry.tests)}
    requests = []
    for number in entry.tests:
        test = model.tests[number]
        requests.append([test.label, posixpath.join("..", test.page), test.endpoint,
                         test.record.status])
    set_ids: Dict[Tuple[int, ...], int] = {}
    sets: List[Sequence[int]] = []
    lines: Dict[str, int] = {}
    for line in sorted(entry.line_tests):
        members = tuple(local[number] for number in entry.line_tests[line])
        set_id = set_ids.get(members)
        if set_id is None:
            set_id = set_ids[members] = len(sets)
            sets.append(members)
        lines[str(line)] = set_id
    return {"requests": requests, "sets": sets, "lines": lines}
