"""Where requestcov's per-request overhead goes, on this interpreter.

A profiler cannot simply be pointed at the request loop: the engine's own
callbacks (a ``sys.settrace`` function on 3.11, a ``sys.monitoring`` LINE
callback on 3.12) run outside what cProfile attributes, and the writer works
on another thread. So the cost is taken apart by ablation instead: the Flask
app's in-process loop is timed with the recorder switched on piece by piece,
each variant in a fresh process, repetitions interleaved, medians reported.

3.12 variants: ``none``; ``engine`` (LINE events on, no requests: every
location that repeats is disabled); ``engine+requests`` (plus a collector
begun and ended around each request, which enables the disabled locations
again, with no middleware);
``no-writer`` (the real middleware with the writer's submit dropped); ``full``.
3.11 variants: ``none``; ``settrace-floor`` (a global trace function that
returns None: the price of having any tracer); ``engine`` (the real tracer,
no requests); ``no-writer``; ``full``.

Beside those, every variant can be a whole recording mode of
``benchlib.modes`` (``coverage-sysmon``, ``coverage-contexts``, ``naive``) and
run any app of ``benchlib.modes.APPS`` (``--app``, with its own request mix):
``instructions.py`` counts them side by side on the thin apps.

Also counted (in an untimed pass): callbacks and line events per request, code
objects instrumented, those enabled again per request and what that costs;
and a cProfile of
the full loop for the Python-level parts (middleware, begin/finish). Writes
``results/profile-X.Y.md``.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

from benchlib import APPS_DIR, inprocess, modes  # noqa: E402
from benchlib.mix import MIX  # noqa: E402

MONITORING = sys.version_info >= (3, 12)
VARIANTS = (["none", "engine", "engine+requests", "no-writer", "full"] if MONITORING
            else ["none", "settrace-floor", "engine", "no-writer", "full"])
EXPLAINED = {
    "engine": "line events in app code, no requests (repeating locations disabled)"
    if MONITORING else "requestcov's tracer (the compiled one when built), no requests",
    "engine+requests": "plus a collector per request (no middleware): disabled locations enabled again, "
    "each request's lines recorded",
    "settrace-floor": "a global trace function that returns None for every call",
    "no-writer": "the real middleware (begin/finish, collectors), writer submit dropped",
    "full": "requestcov as shipped, writer thread included",
}
#: Whole recording modes run as variants: requestcov's competitors.
MODE_VARIANTS = ["coverage-sysmon", "coverage-contexts", "naive"]
EXPLAINED.update({mode: modes.MODES[mode] for mode in MODE_VARIANTS})
#: Variants that need a WSGI app (they wrap it themselves).
WSGI_ONLY = {"engine+requests"}


def build(variant: str, workdir: str, app_name: str = "flask") -> Callable:
    """The app of ``app_name`` wrapped for ``variant``, ready for
    ``inprocess.run`` with the interface ``modes.APPS`` gives it."""
    module_name, interface, _ = modes.APPS[app_name]
    if variant in WSGI_ONLY and interface != "wsgi":
        raise ValueError(f"variant {variant} needs a WSGI app, not {app_name}")
    if variant in MODE_VARIANTS:
        os.chdir(workdir)  # the naive middleware appends to ./dedupData.yaml
        return modes.build(app_name, variant, workdir).app
    application = importlib.import_module(module_name).application

    if variant == "none":
        return application
    if variant == "settrace-floor":
        import threading

        def floor(frame: Any, event: str, arg: Any) -> None:
            return None

        threading.settrace(floor)
        sys.settrace(floor)
        return application
    if variant.startswith("engine"):
        from requestcov.engine import SourceMatcher, make_engine

        make_engine(SourceMatcher([APPS_DIR])).start()
        if variant == "engine+requests":
            from requestcov.context import begin_collecting, end_collecting

            def collecting(environ: dict, start_response: Callable) -> Any:
                collector, token = begin_collecting()
                try:
                    body = application(environ, start_response)
                    try:
                        return list(body)
                    finally:
                        close = getattr(body, "close", None)
                        if close is not None:
                            close()
                finally:
                    end_collecting(collector, token)

            return collecting
        return application
    import requestcov
    from requestcov.recorder import current_recorder

    middleware = requestcov.WSGIMiddleware if interface == "wsgi" else requestcov.ASGIMiddleware
    wrapped = middleware(application, source=[APPS_DIR], db=os.path.join(workdir, "p.db"))
    recorder = current_recorder()
    writer = recorder.writer  # type: ignore[union-attr]
    # Under callgrind the program runs tens of times slower: the writer's
    # gather and idle windows are stretched as much, so its batches hold as many
    # requests as at full speed and its per-request count is the real one.
    slowdown = float(os.environ.get("BENCH_SLOWDOWN", "1"))
    writer.gather_seconds *= slowdown
    writer.idle_seconds *= slowdown
    if variant == "no-writer":
        writer.submit = lambda item: None  # type: ignore[method-assign]
        path = getattr(recorder, "_path", None)
        if path is not None and hasattr(path, "set_finish"):  # the compiled end keeps the submit it was given
            path.set_finish(writer.submit, recorder.pid, "request")  # type: ignore[union-attr]
    return wrapped


def _settle_writer() -> None:
    """The warm-up's requests written before the measured ones begin: a
    process's first batch, each line set new to the store, is start-up
    cost, once per process; the rest of a running server's batches find
    their sets known (without this, the few hundred requests of a count
    under callgrind all land in that first batch)."""
    recorder_module = sys.modules.get("requestcov.recorder")  # not imported: no recorder
    writer = getattr(recorder_module.current_recorder(), "writer", None) if recorder_module else None
    if writer is not None:
        writer.flush()


def time_variant(variant: str, rotations: int, app_name: str = "flask") -> Dict[str, Any]:
    import tempfile

    workdir = tempfile.mkdtemp(prefix="bench-profile-")
    app = build(variant, workdir, app_name)
    mix = modes.mix_for(app_name)
    # The time cap keeps a timed run of the naive mode (tens of times slower)
    # short. Under callgrind (BENCH_SLOWDOWN) a count needs every rotation it
    # asked for, however long: no cap, and the naive mode warms up with two
    # rotations (its count per request does not change after the first).
    counting = float(os.environ.get("BENCH_SLOWDOWN", "1")) > 1
    warmup = 2 * len(mix) if counting and variant == "naive" else 40
    samples, _ = inprocess.run(app, modes.APPS[app_name][1], warmup=warmup, requests=rotations * len(mix),
                               max_seconds=float("inf") if counting else 20, mix=mix,
                               after_warmup=_settle_writer)
    return {"variant": variant, "median_s": statistics.median(samples)}


def count_and_profile(rotations: int) -> Dict[str, Any]:
    """Callbacks per request and a cProfile of the full loop (untimed)."""
    import tempfile

    from requestcov.recorder import current_recorder

    app = build("full", tempfile.mkdtemp(prefix="bench-profile-"))
    recorder = current_recorder()
    inprocess.run(app, "wsgi", warmup=40, requests=len(MIX), max_seconds=5)
    facts: Dict[str, Any] = {"engine": recorder.engine.description}
    calls = [0, 0]
    if MONITORING:
        monitoring = sys.monitoring  # type: ignore[attr-defined]
        tool, line_event = recorder.engine.tool_id, monitoring.events.LINE
        original = monitoring.register_callback(tool, line_event, None)
        from requestcov.context import tracking

        def counting(code: Any, line: int) -> Any:
            calls[0] += 1
            answer = original(code, line)
            if answer is monitoring.DISABLE:
                calls[1] += 1
            return answer

        enable_again = tracking.on_request_start
        enabling = {"code_objects": 0, "seconds": 0.0, "requests": 0}

        def timed_enable_again() -> None:
            enabling["code_objects"] += len(tracking.disabled)
            enabling["requests"] += 1
            started = time.perf_counter()
            enable_again()
            enabling["seconds"] += time.perf_counter() - started

        monitoring.register_callback(tool, line_event, counting)
        tracking.on_request_start = timed_enable_again
        inprocess.run(app, "wsgi", warmup=0, requests=rotations * len(MIX), max_seconds=20)
        monitoring.register_callback(tool, line_event, original)
        tracking.on_request_start = enable_again
        facts["instrumented_code_objects"] = len(recorder.engine._instrumented)
        facts["code_objects_enabled_again_per_request"] = enabling["code_objects"] / max(1, enabling["requests"])
        facts["enabling_again_us_per_request"] = enabling["seconds"] / max(1, enabling["requests"]) * 1e6
    else:
        engine_trace = sys.gettrace()

        def counting_global(frame: Any, event: str, arg: Any) -> Any:
            calls[0] += 1
            local = engine_trace(frame, event, arg)
            if local is None:
                return None

            def counting_local(frame: Any, event: str, arg: Any) -> Any:
                if event == "line":
                    calls[1] += 1
                local(frame, event, arg)
                return counting_local

            return counting_local

        sys.settrace(counting_global)
        inprocess.run(app, "wsgi", warmup=0, requests=rotations * len(MIX), max_seconds=20)
        sys.settrace(engine_trace)
    requests = (rotations + 1) * len(MIX)  # run() adds one warm-up rotation
    if MONITORING:
        facts["line_callbacks_per_request"] = calls[0] / requests
        facts["disables_per_request"] = calls[1] / requests
    else:
        facts["global_trace_calls_per_request"] = calls[0] / requests
        facts["line_events_per_request"] = calls[1] / requests
    recorder.writer.flush()
    from requestcov.store.sqlite import SQLiteStore

    with SQLiteStore(recorder.db_path, create=False) as store:
        records = store.records()[-len(MIX):]
    facts["distinct_lines_per_request"] = {record.path: record.line_count() for record in records}

    profiler = cProfile.Profile()
    profiler.enable()
    inprocess.run(app, "wsgi", warmup=0, requests=rotations * len(MIX), max_seconds=20)
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(25)
    facts["cprofile"] = text.getvalue()
    return facts


def run_child(arguments: List[str]) -> Dict[str, Any]:
    completed = subprocess.run([sys.executable, os.path.abspath(__file__), *arguments], cwd=BENCH_DIR,
                               capture_output=True, text=True, timeout=300)
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr[-3000:])
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", choices=VARIANTS + MODE_VARIANTS + ["count"], help=argparse.SUPPRESS)
    parser.add_argument("--app", default="flask", choices=sorted(modes.APPS), help=argparse.SUPPRESS)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--rotations", type=int, default=150)
    args = parser.parse_args()
    if args.variant == "count":
        print(json.dumps(count_and_profile(args.rotations)))
        return
    if args.variant:
        print(json.dumps(time_variant(args.variant, args.rotations, args.app)))
        return

    timings: Dict[str, List[float]] = {variant: [] for variant in VARIANTS}
    for rep in range(args.reps):
        for variant in VARIANTS[rep % len(VARIANTS):] + VARIANTS[:rep % len(VARIANTS)]:
            result = run_child(["--variant", variant, "--rotations", str(args.rotations)])
            timings[variant].append(result["median_s"])
        print(f"profile repetition {rep + 1}/{args.reps}", file=sys.stderr, flush=True)
    facts = run_child(["--variant", "count", "--rotations", "50"])

    version = "%d.%d" % sys.version_info[:2]
    base = statistics.median(timings["none"])
    lines = [f"# Where requestcov's overhead goes: Python {sys.version.split()[0]} ({facts['engine']})", "",
             f"Flask app, in-process, the 4-request mix; median of {args.reps} interleaved repetitions of "
             f"{args.rotations} rotations, each variant in a fresh process.", "",
             "| variant | µs/request | × no coverage | added µs vs previous row | what it adds |",
             "|---|---|---|---|---|"]
    previous = base
    for variant in VARIANTS:
        value = statistics.median(timings[variant])
        spread = f"{min(timings[variant]) * 1e6:.0f}–{max(timings[variant]) * 1e6:.0f}"
        lines.append(f"| {variant} | {value * 1e6:.0f} ({spread}) | {value / base:.2f} | "
                     f"{(value - previous) * 1e6:+.0f} | {EXPLAINED.get(variant, 'no coverage')} |")
        previous = value
    lines += ["", "Counted in an untimed pass of the full recorder:", ""]
    for key, value in facts.items():
        if key not in ("cprofile", "engine"):
            lines.append(f"- {key}: {value if not isinstance(value, float) else round(value, 2)}")
    lines += ["", "cProfile of the full loop (callbacks of the engine are not attributed by cProfile; the "
              "writer thread is not profiled):", "", "```", facts["cprofile"].strip(), "```", ""]
    path = os.path.join(BENCH_DIR, "results", f"profile-{version}.md")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as output:
        output.write("\n".join(lines))
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
