"""The README's command table (its "Ask" section) says what the CLI does:
every command it lists exists, takes the options it names among --db,
--from and --json (and no other of those three), and every command of the
CLI but the launcher is listed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Set, Tuple

import click

from requestcov.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"
#: The options the table's "options" column speaks for.
TRACKED = {"--db", "--from", "--json"}
#: Not asked anything: the launcher records.
NOT_LISTED = {"run"}


def _ask_rows() -> List[Tuple[List[str], Set[str]]]:
    """(command words, options) of every row of the Ask section's table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Ask\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `requestcov "):
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip("|"))]
        words = []
        for word in cells[0].strip("`").split()[1:]:
            if word.startswith("-") or not word.islower() or not word.isalpha():
                break  # options and placeholders (DIR, URL) end the command's name
            words.append(word)
        rows.append((words, set(re.findall(r"`(--[a-z-]+)`", cells[1]))))
    return rows


def _command(words: List[str]) -> click.Command:
    command: click.Command = main
    for word in words:
        assert isinstance(command, click.Group) and word in command.commands, f"no command {' '.join(words)}"
        command = command.commands[word]
    return command


def _options(command: click.Command) -> Set[str]:
    return {flag for parameter in command.params if isinstance(parameter, click.Option) for flag in parameter.opts}


def test_the_ask_table_lists_every_command_with_its_options():
    rows = _ask_rows()
    assert len(rows) >= 9
    listed: Dict[str, Set[str]] = {}
    for words, options in rows:
        assert options, f"requestcov {' '.join(words)}: no options named"
        command = _command(words)
        actual = _options(command)
        assert options <= actual, f"requestcov {' '.join(words)} lacks {sorted(options - actual)}"
        assert actual & TRACKED == options & TRACKED, (
            f"requestcov {' '.join(words)} takes {sorted(actual & TRACKED)}, the README says {sorted(options)}")
        listed[words[0]] = options
    assert set(listed) == set(main.commands) - NOT_LISTED


def test_every_command_that_reads_records_takes_db_from_and_json():
    for name, command in main.commands.items():
        if name in NOT_LISTED:
            continue
        options = _options(command)
        if "--db" in options:
            assert {"--from", "--json"} <= options, name


def test_replay_har_takes_the_same_json_option_as_replay_keploy():
    replay = main.commands["replay"]
    assert isinstance(replay, click.Group)
    assert all("--json" in _options(sub) for sub in replay.commands.values())
