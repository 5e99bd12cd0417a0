"""What ``--requestcov`` does in each kind of pytest process.

A plain run records in its own process. Under pytest-xdist the controller
runs no test: it resolves the settings once and hands them to every worker
(``workerinput``), and each worker records its tests into the same store
(SQLite in WAL mode takes many writing processes), under the same test set.
"""

from __future__ import annotations

from typing import Any, List, Optional, Set

import pytest

from requestcov.pytest_plugin.conflicts import check_other_coverage
from requestcov.pytest_plugin.options import Settings, put_in_workerinput, settings_of
from requestcov.pytest_plugin.recording import TestRecording

__all__ = ["start", "Controller", "Reporting"]

_PLUGIN_NAME = "requestcov-session"

#: pytest.main() run twice in one process: the process has one recorder,
#: and its start-up record is written once, so only the first session records.
_recorded_in_this_process = False


def is_xdist_controller(config: pytest.Config) -> bool:
    """Tests run in worker processes, none here (pytest-cov asks the same)."""
    return not hasattr(config, "workerinput") and getattr(config.option, "dist", "no") != "no"


def start(config: pytest.Config) -> None:
    """Called from ``pytest_configure`` when ``--requestcov`` is given."""
    global _recorded_in_this_process
    from requestcov.config import Config

    settings = settings_of(config)
    recording_config = Config.resolve(source=list(settings.source), db=settings.db)
    controller = is_xdist_controller(config)
    check_other_coverage(config, branch=recording_config.branch, records_here=not controller)
    if controller:
        config.pluginmanager.register(Controller(settings), _PLUGIN_NAME)
        config.pluginmanager.register(Reporting(settings, None), _PLUGIN_NAME + "-report")
        return
    if _recorded_in_this_process:
        config.issue_config_time_warning(
            pytest.PytestWarning("requestcov records one pytest session per process; this one is not recorded"),
            stacklevel=2,
        )
        return
    from requestcov.recorder import get_recorder

    recorder = get_recorder(recording_config, list(settings.source))
    if recorder is None:  # why is logged; the tests run unmeasured
        config.issue_config_time_warning(
            pytest.PytestWarning("requestcov cannot record here (see its log line); the tests run unmeasured"),
            stacklevel=2,
        )
        return
    _recorded_in_this_process = True
    recording = TestRecording(recorder, settings)
    config.pluginmanager.register(recording, _PLUGIN_NAME)
    if getattr(recorder.engine, "stepped_aside", False):
        config.issue_config_time_warning(
            pytest.PytestWarning("requestcov stepped aside for another trace function: nothing is recorded"),
            stacklevel=2,
        )
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(Reporting(settings, recording), _PLUGIN_NAME + "-report")


class Controller:
    """The xdist controller's part: its settings, out to every worker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        put_in_workerinput(self.settings, node.workerinput)


class Reporting:
    """The header line and the summary line, in the process with the terminal
    (``recording`` is None on an xdist controller, whose workers record)."""

    def __init__(self, settings: Settings, recording: Optional[TestRecording]) -> None:
        self.settings = settings
        self.recording = recording
        # The recorder's own: a process that already had one (requestcov run
        # -- pytest --requestcov) records where that one does.
        self.db = str(recording.recorder.db_path) if recording is not None else settings.db
        #: Tests whose call phase ran, as the reports tell (the workers' too;
        #: a test's subtests report under its node id).
        self.called: Set[str] = set()

    def pytest_report_header(self) -> List[str]:
        engine = ""
        if self.recording is not None:
            engine = f" with {self.recording.recorder.engine.description}"
        return [f"requestcov: recording {', '.join(self.settings.source)}{engine} "
                f"into {self.db}, test set {self.settings.test_set!r}"]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            self.called.add(report.nodeid)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        count = self.recording.recorded if self.recording is not None else len(self.called)
        tests = f"{count} test{'' if count == 1 else 's'}"
        line = f"requestcov: {tests} recorded into {self.db} (test set {self.settings.test_set!r})"
        writer = self.recording.recorder.writer if self.recording is not None else None
        if writer is not None and (writer.failed or writer.dropped):
            terminalreporter.write_line(
                f"requestcov: {writer.dropped} records not written to {self.db}: {writer.failed}",
                red=True,
            )
            return
        terminalreporter.write_line(line)
