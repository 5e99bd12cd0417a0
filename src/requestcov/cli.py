"""The ``requestcov`` command line.

Each command lives in its own module under :mod:`requestcov.commands`; this file
only gathers them, so adding a command never means editing another one.
"""

from __future__ import annotations

import importlib

import click

from requestcov import __version__

#: Modules under requestcov.commands, each exposing a click command (or group)
#: named ``command``.
COMMAND_MODULES = (
    "report",
    "export",
    "replay",
    "html",
    "run",
    "dedup",
    "minimize",
    "gaps",
    "hot",
    "impact",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="requestcov")
def main() -> None:
    """Code coverage for every request your Python web server handles.

    Record with the middleware (or `requestcov run`), then ask the store which
    tests are duplicates, which code no request reaches, and more.
    """


for _module_name in COMMAND_MODULES:
    main.add_command(importlib.import_module(f"requestcov.commands.{_module_name}").command)


if __name__ == "__main__":  # pragma: no cover
    main()
