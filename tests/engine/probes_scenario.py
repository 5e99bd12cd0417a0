"""Run by test_probes_engine.py in a fresh interpreter: ``python -m tests.engine.probes_scenario SOURCE_DIR``.

SOURCE_DIR holds ``early.py`` (imported before recording starts) and
``late.py`` (imported after). Prints one JSON line with what was recorded.
"""

import json
import sys
import threading

from requestcov.context import begin_collecting, end_collecting, startup_collector, unrecorded_collector, current_collector


def main() -> None:
    source = sys.argv[1]
    sys.path.insert(0, source)
    import early  # noqa: F401  (before the engine starts)

    from requestcov.engine import SourceMatcher, make_engine

    engine = make_engine(SourceMatcher([source]))
    engine.start()
    import late

    def request(function, *args):
        collector, token = begin_collecting()
        try:
            function(*args)
        finally:
            end_collecting(collector, token)
        return {name.rsplit("/", 1)[-1]: sorted(lines) for name, lines in collector.lines.items()}

    results = {
        "engine": engine.description,
        "tracer": repr(sys.gettrace()),
        "early": request(early.work, 3),
        "early_again": request(early.work, 0),
        "late": request(late.view),
        "late_again": request(late.view),
    }
    # Two threads, each with its own request, running the same lines at once.
    out = {}
    barrier = threading.Barrier(2, timeout=10)

    def threaded(name, n):
        barrier.wait()
        out[name] = request(early.work, n)

    threads = [threading.Thread(target=threaded, args=(name, n)) for name, n in (("t1", 3), ("t2", 0))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    results["threads"] = out
    token = current_collector.set(unrecorded_collector)
    late.view()
    current_collector.reset(token)
    results["unrecorded"] = {name: sorted(lines) for name, lines in unrecorded_collector.lines.items()}
    results["startup"] = {name.rsplit("/", 1)[-1]: sorted(lines) for name, lines in startup_collector.lines.items()}
    engine.stop()
    results["after_stop"] = request(early.work, 3)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
