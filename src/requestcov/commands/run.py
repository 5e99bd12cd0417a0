"""``requestcov run -- COMMAND ...``: run a Python server with every request recorded.

The command replaces itself with the server (``os.execvpe``), so the server
keeps this process's id, its exit code is the command's exit code, and Ctrl-C
or SIGTERM reach it exactly as if it had been started directly. What makes
the server record is only its environment; see :mod:`requestcov.launcher`.

With ``--replay keploy:DIR`` (or ``har:FILE``) the whole flow is one command:
the server runs as a child with the same environment, gets the recorded
requests once it listens, is stopped, and the replay and duplicate summaries
are printed; see :mod:`requestcov.launcher.supervise`.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import click

from requestcov.commands._common import console, fail, load_index_or_fail, warn
from requestcov.config import Config
from requestcov.errors import RequestcovError
from requestcov.launcher import launch_environment
from requestcov.launcher.recorded import RecordedCheck, check_recorded
from requestcov.launcher.supervise import (
    Interrupted,
    ReplayPlan,
    SupervisedReplay,
    SupervisorError,
    exit_description,
    run_and_replay,
)
from requestcov.launcher.watchdog import UNSUPPORTED as _UNSUPPORTED
from requestcov.replay import KINDS
from requestcov.store import resolve_db_path

__all__ = ["command", "build_config", "parse_replay"]

#: Seconds ``--replay`` waits for the server to listen, and for each answer.
DEFAULT_WAIT_TIMEOUT = 60.0
DEFAULT_REPLAY_TIMEOUT = 10.0


def _split_values(values: Sequence[str]) -> Optional[List[str]]:
    """Repeated options and comma-separated lists both work (``--omit a,b --omit c``)."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def build_config(
    *,
    db: Optional[str],
    source: Sequence[str],
    include: Sequence[str],
    omit: Sequence[str],
    id_header: Optional[str],
    test_set_header: Optional[str],
    branch: Optional[bool] = None,
    sample_rate: Optional[float] = None,
    sample_rules: Sequence[str] = (),
    control: Optional[bool] = None,
    fallback_db: Optional[str] = None,
    keploy_agent: Optional[bool] = None,
    keploy_control_socket: Optional[str] = None,
    keploy_data_socket: Optional[str] = None,
) -> Config:
    """Options given here win over ``REQUESTCOV_*``; the source defaults to the
    current folder and the store to an absolute path, so workers that change
    folder still measure and write the same places."""
    config = Config.resolve(
        source=_split_values(source), include=_split_values(include), omit=_split_values(omit),
        db=db, id_header=id_header, test_set_header=test_set_header, branch=branch,
        sample_rate=sample_rate, sample_rules=_split_values(sample_rules), control=control,
        fallback_db=fallback_db, keploy_agent=keploy_agent, keploy_control_socket=keploy_control_socket,
        keploy_data_socket=keploy_data_socket,
    )
    return dataclasses.replace(
        config,
        source=[os.path.abspath(folder) for folder in config.source or [os.getcwd()]],
        db=str(resolve_db_path(config.db).resolve()),
    )


@click.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option("--db", type=click.Path(dir_okay=False), default=None,
              help="SQLite store to write (default: $REQUESTCOV_DB or .requestcov/requestcov.db).")
@click.option("--source", multiple=True, metavar="FOLDERS",
              help="Folders (or files) to measure, comma-separated or repeated [default: the current folder].")
@click.option("--include", multiple=True, metavar="PATTERNS",
              help="Only measure files matching these patterns (comma-separated or repeated).")
@click.option("--omit", multiple=True, metavar="PATTERNS",
              help="Never measure files matching these patterns (comma-separated or repeated).")
@click.option("--id-header", default=None, metavar="NAME",
              help="Header carrying the test id [default: REQUESTCOV_ID_HEADER or KEPLOY-TEST-ID].")
@click.option("--test-set-header", default=None, metavar="NAME",
              help="Header carrying the test set [default: REQUESTCOV_TEST_SET_HEADER or KEPLOY-TEST-SET-ID].")
@click.option("--branch/--no-branch", default=None,
              help="Record arcs too, as coverage.py --branch does (uses the trace-function engine).")
@click.option("--sample-rate", type=click.FloatRange(0.0, 1.0), default=None, metavar="RATE",
              help="Share of requests without a test id to record, e.g. 0.05 in production [default: 1].")
@click.option("--sample", "sample_rules", multiple=True, metavar="'METHOD /PATH*=RATE'",
              help="Rate for matching requests, first match wins, e.g. 'GET /health*=0' (repeatable).")
@click.option("--fallback-db", type=click.Path(dir_okay=False), default=None,
              help="Store to record into when --db cannot be opened or written (read-only, full, "
                   "locked, corrupt) [default: REQUESTCOV_FALLBACK_DB, else stop recording].")
@click.option("--control/--no-control", default=None,
              help="Answer POST /requestcov/test/start|end/{id} on loopback, with the token in "
                   "REQUESTCOV_TOKEN: requests in between belong to that test.")
@click.option("--keploy-agent/--no-keploy-agent", default=None,
              help="Serve Keploy's coverage agent (keploy test --dedup): START/END on the control socket, "
                   "each test's lines to the data socket, for every worker of the server.")
@click.option("--keploy-control-socket", default=None, metavar="PATH",
              help="With --keploy-agent: where Keploy sends START/END [default: "
                   "REQUESTCOV_KEPLOY_CONTROL_SOCKET or /tmp/coverage_control.sock].")
@click.option("--keploy-data-socket", default=None, metavar="PATH",
              help="With --keploy-agent: where Keploy takes the coverage [default: "
                   "REQUESTCOV_KEPLOY_DATA_SOCKET or /tmp/coverage_data.sock].")
@click.option("--replay", "replay", default=None, metavar="KIND:PATH",
              help="Replay recordings to the server once it listens, stop it, and print the replay and "
                   "duplicate summaries: keploy:DIR (Keploy test sets) or har:FILE.")
@click.option("--url", default=None, metavar="URL",
              help="With --replay: where the server listens [default: the scheme, host and port the "
                   "requests were recorded with].")
@click.option("--wait-timeout", type=click.FloatRange(min=0.1), default=None, metavar="SECONDS",
              help=f"With --replay: how long the server may take to listen [default: {DEFAULT_WAIT_TIMEOUT:g}].")
@click.option("--replay-timeout", type=click.FloatRange(min=0.1), default=None, metavar="SECONDS",
              help=f"With --replay: seconds to wait for each answer [default: {DEFAULT_REPLAY_TIMEOUT:g}].")
@click.option("--replay-concurrency", type=click.IntRange(min=1), default=None, metavar="N",
              help="With --replay: requests in flight at once [default: 1].")
@click.option("-q", "--quiet", is_flag=True, help="Do not print where the records go.")
@click.argument("server_command", nargs=-1, type=click.UNPROCESSED, required=True, metavar="-- COMMAND ...")
def command(
    db: Optional[str],
    source: Tuple[str, ...],
    include: Tuple[str, ...],
    omit: Tuple[str, ...],
    id_header: Optional[str],
    test_set_header: Optional[str],
    branch: Optional[bool],
    sample_rate: Optional[float],
    sample_rules: Tuple[str, ...],
    control: Optional[bool],
    fallback_db: Optional[str],
    keploy_agent: Optional[bool],
    keploy_control_socket: Optional[str],
    keploy_data_socket: Optional[str],
    replay: Optional[str],
    url: Optional[str],
    wait_timeout: Optional[float],
    replay_timeout: Optional[float],
    replay_concurrency: Optional[int],
    quiet: bool,
    server_command: Tuple[str, ...],
) -> None:
    """Run a Python server and record the coverage of every request it handles.

    \b
    Works without changing the app, for example:
      requestcov run -- python app.py
      requestcov run -- flask --app app run
      requestcov run -- gunicorn -w 4 --threads 4 app:app
      requestcov run -- uvicorn --workers 2 main:app
      requestcov run -- python manage.py runserver
      requestcov run -- waitress-serve app:app
      requestcov run -- hypercorn main:app

    Workers, reloaders and other Python child processes record too. Stopping
    the server (Ctrl-C, SIGTERM) writes every finished request to the store.

    \b
    Replay recorded tests and record their coverage in one go (start, replay,
    stop, summarise):
      requestcov run --replay keploy:keploy -- python app.py
      requestcov run --replay har:session.har --url http://127.0.0.1:8000 -- gunicorn app:app
    """
    try:
        config = build_config(
            db=db, source=source, include=include, omit=omit, id_header=id_header,
            test_set_header=test_set_header, branch=branch, sample_rate=sample_rate, sample_rules=sample_rules,
            control=control, fallback_db=fallback_db, keploy_agent=keploy_agent,
            keploy_control_socket=keploy_control_socket, keploy_data_socket=keploy_data_socket,
        )
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'--sample'") from error
    if not config.keploy_agent:
        moved = [name for name, value in (("--keploy-control-socket", keploy_control_socket),
                                          ("--keploy-data-socket", keploy_data_socket)) if value]
        if moved:
            raise click.UsageError(f"{moved[0]} only applies with --keploy-agent")
    replay_only = {"--url": url, "--wait-timeout": wait_timeout, "--replay-timeout": replay_timeout,
                   "--replay-concurrency": replay_concurrency}
    plan: Optional[ReplayPlan] = None
    if replay is None:
        given = [name for name, value in replay_only.items() if value is not None]
        if given:
            raise click.UsageError(f"{given[0]} only applies with --replay KIND:PATH")
    else:
        kind, path = parse_replay(replay)
        plan = ReplayPlan(
            kind=kind, path=path, url=url,
            wait_timeout=DEFAULT_WAIT_TIMEOUT if wait_timeout is None else wait_timeout,
            request_timeout=DEFAULT_REPLAY_TIMEOUT if replay_timeout is None else replay_timeout,
            concurrency=replay_concurrency or 1,
            id_header=config.id_header, test_set_header=config.test_set_header,
        )
    environment = launch_environment(config, os.environ)
    arguments = list(server_command)
    if not quiet:
        click.echo(
            f"requestcov: recording {os.pathsep.join(config.source or [])} into {config.db}", err=True,
        )
    if config.keploy_agent:
        _start_keploy_agent(config, quiet)
    if plan is not None:
        _run_with_replay(arguments, environment, plan, config, quiet)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(arguments[0], arguments, environment)
    except OSError as error:
        click.echo(f"requestcov: cannot run {arguments[0]}: {error.strerror or error}", err=True)
        sys.exit(127 if isinstance(error, FileNotFoundError) else 126)


def _start_keploy_agent(config: Config, quiet: bool) -> None:
    """The agent serves the control socket for the server this process is
    about to become (or, with --replay, to start)."""
    from requestcov.keploy.inprocess import socket_paths
    from requestcov.keploy.process import start_agent_process
    from requestcov.keploy.server import AgentError

    control, data = socket_paths(config)
    try:
        start_agent_process(config, os.getpid())
    except AgentError as error:
        click.echo(f"Error: cannot serve Keploy's coverage agent: {error}", err=True)
        sys.exit(1)
    if not quiet:
        click.echo(f"requestcov: Keploy's coverage agent listens on {control}, sends to {data}", err=True)


def parse_replay(value: str) -> Tuple[str, str]:
    """``keploy:DIR`` -> ("keploy", "DIR"); only the first colon splits, so
    paths may hold colons of their own."""
    kind, separator, path = value.partition(":")
    kind = kind.strip().lower()
    if not separator or kind not in KINDS or not path:
        raise click.BadParameter(
            f"{value!r}: use keploy:DIR (Keploy test sets) or har:FILE", param_hint="'--replay'",
        )
    return kind, path


def _run_with_replay(arguments: List[str], environment: Dict[str, str], plan: ReplayPlan, config: Config,
                     quiet: bool) -> None:
    """Supervise the server through the replay, then print what it gave: the
    replay tally and the duplicate tests of the store, as ``requestcov replay``
    and ``requestcov dedup`` print them. Exits non-zero when the server failed
    or nothing could be replayed, or when a request the server answered has no
    record of this run in the store, so scripts and CI can trust exit code 0."""
    from requestcov.analysis.dedup import find_duplicates
    from requestcov.commands.dedup import print_duplicates
    from requestcov.commands.replay import print_result, print_summary

    out = console()

    def status(message: str) -> None:
        if not quiet:
            click.echo(f"requestcov: {message}", err=True)

    try:
        outcome = run_and_replay(
            arguments, environment, plan, on_status=status,
            on_result=lambda result: print_result(out, result), on_warning=warn,
        )
    except Interrupted as error:
        click.echo(f"requestcov: {error}", err=True)
        sys.exit(128 + error.signum)
    except SupervisorError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(error.exit_code)
    except RequestcovError as error:
        fail(str(error))
    print_summary(out, outcome.summary)
    recorded = check_recorded(config.db, outcome.summary.results, outcome.started_at, config.fallback_db)
    _check_outcome(outcome, plan, recorded, config)
    index = load_index_or_fail(config.db, None)
    print_duplicates(index, find_duplicates(index), out)


def _check_outcome(outcome: SupervisedReplay, plan: ReplayPlan, recorded: RecordedCheck, config: Config) -> None:
    if outcome.killed:
        warn(f"the server did not stop within {plan.stop_timeout:g} s of SIGTERM and was killed; "
             "requests it had not written yet are lost")
    elif outcome.group_terminated:
        warn(f"processes of the server were still running {plan.group_grace:g} s after its main process exited: "
             "they were sent SIGTERM" + (" and then killed" if outcome.group_killed else ""))
    if outcome.summary.sent == 0:
        reason = outcome.summary.results[0].error if outcome.summary.results else "no request"
        fail(f"nothing could be replayed to {outcome.url}: {reason}")
    if recorded.in_fallback:
        warn(f"{recorded.in_fallback} of {recorded.answered} replayed requests were recorded in the fallback "
             f"store {config.fallback_db}: {config.db} could not be written")
    if not recorded.complete:
        missing = len(recorded.missing)
        shown = ", ".join(str(key) for key in recorded.missing[:5]) + (", ..." if missing > 5 else "")
        message = f"{missing} of {recorded.answered} replayed requests were not recorded ({shown})"
        reasons = _loss_reasons(outcome, plan, recorded)
        fail(f"{message}: {'; '.join(reasons)}" if reasons else message)
    if outcome.exited_early is not None:
        fail(f"the server exited with {exit_description(outcome.exited_early)} during the replay")


#: Exit statuses of a server that stopped as asked (or died of the SIGTERM it was sent).
_STOPPED_AS_ASKED = (-signal.SIGTERM, -signal.SIGINT)


def _loss_reasons(outcome: SupervisedReplay, plan: ReplayPlan, recorded: RecordedCheck) -> List[str]:
    """What is known about why requests have no record; the stop first, since
    a server killed or crashed loses what it had not written, whatever it is."""
    reasons = list(recorded.store_errors)
    if outcome.exited_early is not None:
        reasons.append(f"the server exited with {exit_description(outcome.exited_early)} during the replay")
    elif outcome.killed:
        reasons.append(f"the server did not stop within {plan.stop_timeout:g} s of SIGTERM and was killed")
    elif outcome.returncode is not None and outcome.returncode < 0 and outcome.returncode not in _STOPPED_AS_ASKED:
        reasons.append(f"the server stopped with {exit_description(outcome.returncode)}")
    if outcome.group_killed and not outcome.killed:
        reasons.append("processes the server left running after its main process exited were killed")
    if recorded.requests_recorded == 0 and not recorded.store_errors:
        if recorded.startup_recorded == 0:
            reasons.append("nothing at all was recorded during this run, not even the server's start-up: the "
                           "store could not be written or requestcov did not start in the server (see the "
                           "server's output above), or " + _UNSUPPORTED)
        else:
            reasons.append("no request was recorded at all: " + _UNSUPPORTED + ", or its processes stopped "
                           "before they wrote a record (see the server's output above)")
    return reasons
