"""Run by test_probes_engine.py in a fresh interpreter: ``python -m tests.engine.probes_scenario SOURCE_DIR``.

SOURCE_DIR holds ``early.py`` (imported before recording starts),
``starter.py`` (whose import starts it), ``late.py`` (imported after) and ``script.py`` (run as ``__main__`` through runpy). Prints
one JSON line with what was recorded.
"""

import builtins
import json
import sys
import threading

from requestcov.context import begin_collecting, end_collecting, startup_collector, unrecorded_collector, current_collector


def main() -> None:
    source = sys.argv[1]
    sys.path.insert(0, source)
    import early  # noqa: F401  (before the engine starts)

    from requestcov.engine import SourceMatcher, make_engine

    import os
    import runpy

    early_code = early.work.__code__
    engine = make_engine(SourceMatcher([source]))
    # starter.py starts the engine from its own running code.
    builtins.start_engine = engine.start
    import starter
    import late

    # A script run as __main__ through exec, before the first request: its
    # top-level lines are traced (start-up) until a request begins.
    script = runpy.run_path(os.path.join(source, "script.py"), run_name="__main__")
    tracer_before_requests = sys.gettrace()

    def request(function, *args):
        engine.on_thread_start_request()  # as the recorder does
        collector, token = begin_collecting()
        try:
            function(*args)
        finally:
            end_collecting(collector, token)
        return {name.rsplit("/", 1)[-1]: sorted(lines) for name, lines in collector.lines.items()}

    results = {
        "engine": engine.description,
        "bridge": type(tracer_before_requests).__name__,
        "early": request(early.work, 3),
        "tracer": repr(sys.gettrace()),
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
    # Code that never passes the import hook: the script above, and a string
    # compiled with a measured file name, run through exec during requests.
    results["script"] = request(script["view"], 2)
    namespace = {}
    exec(compile("def dynamic(x):\n    return x + 1\n", os.path.join(source, "dynamic.py"), "exec"), namespace)
    results["dynamic"] = request(namespace["dynamic"], 1)
    results["factory_view"] = request(starter.VIEW, 1)
    results["module_later"] = request(starter.later, 2)
    engine.stop()
    results["after_stop"] = request(early.work, 3)
    results["early_code_back"] = early.work.__code__ is early_code
    # Imported after the start: the probed code stays, its probes inert.
    results["late_after_stop"] = request(late.view)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
