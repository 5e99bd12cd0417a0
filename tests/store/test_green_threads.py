"""The writer's thread and queue in a gevent or eventlet process: a real OS
thread and real locks, whether requestcov was imported before the
monkey-patching (``requestcov run``) or after it (an app wired by hand);
green callers that wait never hold up the hub; and the stop handlers' view
of where they run."""

from __future__ import annotations

import pytest

from tests.support.green_probe import run_probe


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("library", ["gevent", "eventlet"])
def test_real_thread_and_locks_and_waits_that_let_the_hub_run(library: str, when: str) -> None:
    report = run_probe(library, when)
    # The probe's process really is green: threading's locks are the library's.
    assert report["threads_are_green"] and report["threading_is_green"]
    assert report["lock_type"] == "_thread.lock"
    assert report["joined"] and report["own_os_thread"]
    # The producer waited for room (the consumer freed it after 0.3 s) and
    # another greenlet ran every 10 ms meanwhile.
    assert report["put_after_room"]
    assert report["ticks_while_waiting"] >= 5
    # In the hub's own greenlet a green sleep refuses: the waits fall back to real ones.
    assert report["wait_done_in_hub"] is True
    assert report["pause_in_hub"] is None
    # A stop handler knows the hub (where it must not wait for requests) and
    # the main thread (where signal handlers are set), whichever greenlet it is.
    assert report["hub_seen_in_hub"] is True and report["hub_seen_outside"] is False
    assert report["main_thread_seen"] is True and report["main_thread_seen_elsewhere"] is False
