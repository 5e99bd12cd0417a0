"""Turn ``results/raw-*.json`` into ``results/overhead.md`` and ``overhead.png``.

Ratios are to "no coverage" on the same interpreter and app. Because the
repetitions are interleaved, each repetition's ratio compares samples taken
minutes apart at most; the table gives the median ratio and, in brackets, the
lowest and highest per-repetition ratio, which is the honest error bar on a
shared machine.
"""

from __future__ import annotations

import glob
import json
import os
import statistics
from typing import Any, Dict, List, Optional, Tuple

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
MODE_LABELS = {
    "none": "no coverage",
    "requestcov": "requestcov",
    "naive": "naive (Coverage per request + YAML)",
    "coverage-contexts": "coverage.py switch_context",
    "coverage-sysmon": "coverage.py whole process (sysmon core on 3.12+)",
    "requestcov-branch": "requestcov, branch",
    **{f"requestcov-sample-{percent}": f"requestcov, {percent}% of untagged traffic" for percent in (1, 10, 50)},
}


def load() -> List[Dict[str, Any]]:
    runs = []
    for path in sorted(glob.glob(os.path.join(RESULTS_DIR, "raw-*.json"))):
        with open(path, encoding="utf-8") as stream:
            runs.append(json.load(stream))
    return runs


def by_rep(samples: List[Dict[str, Any]], app: str, mode: str, key: str) -> Dict[int, float]:
    return {s["rep"]: s[key] for s in samples if s["app"] == app and s["mode"] == mode and key in s}


def ratio_summary(samples: List[Dict[str, Any]], app: str, mode: str, key: str,
                  invert: bool = False) -> Optional[Tuple[float, float, float]]:
    """Median, min and max over repetitions of mode/no-coverage."""
    base, measured = by_rep(samples, app, "none", key), by_rep(samples, app, mode, key)
    ratios = []
    for rep, value in measured.items():
        if rep in base and base[rep] and value:
            ratios.append(base[rep] / value if invert else value / base[rep])
    if not ratios:
        return None
    return statistics.median(ratios), min(ratios), max(ratios)


def fmt_ratio(summary: Optional[Tuple[float, float, float]]) -> str:
    if summary is None:
        return "–"
    median, low, high = summary
    return f"**{median:.2f}x** ({low:.2f}–{high:.2f})"


def median_of(samples: List[Dict[str, Any]], app: str, mode: str, key: str) -> Optional[float]:
    values = list(by_rep(samples, app, mode, key).values())
    return statistics.median(values) if values else None


def inprocess_table(run: Dict[str, Any]) -> List[str]:
    samples = run.get("inprocess") or []
    modes = [mode for mode in run["modes"] if mode != "none"]
    lines = ["| app | no coverage (µs/request) | " + " | ".join(MODE_LABELS.get(m, m) for m in modes) + " |",
             "|---|---|" + "---|" * len(modes)]
    for app in run["apps"]:
        base = median_of(samples, app, "none", "median_s")
        cells = [fmt_ratio(ratio_summary(samples, app, mode, "median_s")) for mode in modes]
        lines.append(f"| {app} | {base * 1e6:.0f} | " + " | ".join(cells) + " |" if base else f"| {app} | – |")
    if "naive" in modes and "requestcov" in modes:
        lines.append("")
        speedups = []
        for app in run["apps"]:
            naive = median_of(samples, app, "naive", "median_s")
            ours = median_of(samples, app, "requestcov", "median_s")
            base = median_of(samples, app, "none", "median_s")
            if naive and ours and base:
                # A median at or below no coverage means requestcov's added
                # time is lost in noise: no honest "x less" figure exists.
                added = (f"{(naive - base) / (ours - base):.0f}x less added time" if ours > base
                         else "requestcov's added time lost in the noise")
                speedups.append(f"{app} {naive / ours:.1f}x per request ({added})")
        lines.append("requestcov against the naive middleware: " + "; ".join(speedups) + ".")
    return lines


def server_table(run: Dict[str, Any]) -> List[str]:
    samples = run.get("server") or []
    modes = [mode for mode in run["modes"] if mode != "none"]
    lines = ["| app | no coverage (req/s, p50, p99) | " + " | ".join(MODE_LABELS.get(m, m) for m in modes) + " |",
             "|---|---|" + "---|" * len(modes)]
    for app in run["apps"]:
        throughput = median_of(samples, app, "none", "throughput")
        if throughput is None:
            continue
        p50 = median_of(samples, app, "none", "p50_s") * 1e3
        p99 = median_of(samples, app, "none", "p99_s") * 1e3
        cells = []
        for mode in modes:
            ratio = ratio_summary(samples, app, mode, "throughput", invert=True)
            if ratio is None:
                cells.append("–")
                continue
            mode_p50 = median_of(samples, app, mode, "p50_s") * 1e3
            mode_p99 = median_of(samples, app, mode, "p99_s") * 1e3
            errors = sum(s["errors"] for s in samples if s["app"] == app and s["mode"] == mode)
            extra = f", {errors} failed" if errors else ""
            cells.append(f"{fmt_ratio(ratio)}; p50 {mode_p50:.1f} ms, p99 {mode_p99:.1f} ms{extra}")
        lines.append(f"| {app} | {throughput:.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms | "
                     + " | ".join(cells) + " |")
    return lines


def memory_lines(run: Dict[str, Any]) -> List[str]:
    lines = []
    for result in run.get("memory") or []:
        points = result["points"]
        first = next((p for p in points if p["requests"] > 0), points[0])
        peak_queue = max(p["queued"] for p in points)
        lines.append(
            f"- {result['mode']}: {result['requests']:,} requests in {result['seconds']:.0f}s; RSS "
            f"{points[0]['rss_mb']:.1f} MB at start, {first['rss_mb']:.1f} MB after {first['requests']:,}, "
            f"{points[-1]['rss_mb']:.1f} MB at the end ({result['rss_after_flush_mb']:.1f} MB after the "
            f"writer flushed); growth after warm-up {points[-1]['rss_mb'] - first['rss_mb']:+.1f} MB"
            + (f"; writer backlog at most {peak_queue} requests; store {result['db_mb']:.1f} MB on disk, "
               f"{result['facts'].get('records_written', 0):,} records" if result["mode"] != "none" else "")
        )
    return lines


def writer_lines(run: Dict[str, Any]) -> List[str]:
    result = run.get("writer")
    if not result:
        return []
    return [
        f"- records of {result['lines_per_record']} lines over {result['files_per_record']} files, "
        f"{result['records']:,} of them:",
        f"  - `SQLiteStore.write` (batches of 512): **{result['store_per_s']:,.0f} records/s**",
        f"  - `BackgroundWriter`, records ready-made: **{result['writer_per_s']:,.0f} records/s**",
        f"  - the recorder's conversion alone (`RecordBuilder.convert`): "
        f"**{result['convert_only_per_s']:,.0f} records/s**",
        f"  - `BackgroundWriter` with the recorder's conversion (what a server runs), every request "
        f"running lines of its own (worst case): **{result['writer_convert_per_s']:,.0f} records/s**",
        *(
            [f"  - the same, requests following {result['distinct_paths']} distinct code paths as real "
             f"endpoints do: **{result['writer_convert_repeating_per_s']:,.0f} records/s**"]
            if "writer_convert_repeating_per_s" in result else []
        ),
        f"  - profile: `writer-profile-{run['version']}.txt`",
    ]


def write_markdown(runs: List[Dict[str, Any]]) -> str:
    out = ["# requestcov overhead", "",
           "Made by `bench/run` (see `bench/overhead.py` for how and why). Ratios are to "
           "*no coverage* on the same interpreter and app: **median** over interleaved repetitions, "
           "(lowest–highest repetition) after it. In-process ratios compare per-request latency of "
           "the request mix; server ratios compare throughput (no coverage ÷ mode, so higher is slower).",
           "", "![overhead](overhead.png)", ""]
    for run in runs:
        libraries = ", ".join(f"{name} {version}" for name, version in run["libraries"].items())
        engine = next((s["facts"].get("engine") for s in run.get("inprocess") or []
                       if s["mode"] == "requestcov"), "?")
        out += [f"## Python {run['python']} (requestcov engine: {engine})", "",
                f"{run['profile']} run, {run['started']}, {run['seconds']:.0f}s, {run['cpus']} CPUs, "
                f"load average {run['load_before'][0]:.2f} before and {run['load_after'][0]:.2f} after; "
                f"{run['platform']}.", ""]
        if "reference_loop_ns" in run:
            out += [f"Machine speed: {run['reference_loop_ns']:.0f} ns per step of a plain Python loop "
                    "(absolute figures such as records per second scale with it; ratios do not).", ""]
        out += [f"Libraries: {libraries}.", ""]
        for note in run["notes"]:
            out.append(f"- Note: {note}")
        if run["notes"]:
            out.append("")
        if run.get("inprocess"):
            reps = run["size"]["reps"]
            out += [f"### In-process latency ({reps} repetitions, up to {run['size']['requests']} requests "
                    "each)", ""] + inprocess_table(run) + [""]
        if run.get("server"):
            out += [f"### Real server, throughput ({run['size']['server_reps']} repetitions, "
                    f"{run['size']['server_requests']} requests at concurrency 4, at most "
                    f"{run['size']['server_seconds']:.0f}s each)", "",
                    "gunicorn (1 gthread worker, 4 threads) for Flask and Django, uvicorn for FastAPI. "
                    "The naive middleware runs on a single-threaded gunicorn worker: with threads, "
                    "concurrent `coverage.Coverage` objects break each other and requests fail.", ""]
            out += server_table(run) + [""]
        if run.get("memory"):
            out += ["### Memory (Flask, in-process)", ""] + memory_lines(run) + [""]
        if run.get("writer"):
            out += ["### Store writer throughput (target ≥ 20,000 records/s)", ""] + writer_lines(run) + [""]
    return "\n".join(out)


def draw(runs: List[Dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [kind for kind in ("inprocess", "server") if any(run.get(kind) for run in runs)]
    if not kinds:
        return
    # One row per interpreter, one column per load: the eye compares modes
    # within a panel and interpreters down a column.
    figure, grid = plt.subplots(len(runs), len(kinds), figsize=(6.4 * len(kinds), 3.9 * len(runs)),
                                squeeze=False)
    panels = [(run, kind) for run in runs for kind in kinds]
    axes = [[axis for row in grid for axis in row]]
    colours = {"requestcov": "#2a7ab9", "coverage-contexts": "#e3a33b", "naive": "#c0392b",
               "coverage-sysmon": "#7f8c8d",
               "requestcov-branch": "#5fa55a", "requestcov-sample-1": "#c7b3e5",
               "requestcov-sample-10": "#8e6bbf", "requestcov-sample-50": "#5b3f8c"}
    for axis, (run, kind) in zip(axes[0], panels):
        samples = run.get(kind) or []
        if not samples:
            axis.set_visible(False)
            continue
        modes = [mode for mode in run["modes"] if mode != "none"]
        key, invert = ("median_s", False) if kind == "inprocess" else ("throughput", True)
        width = 0.8 / len(modes)
        for index, mode in enumerate(modes):
            medians, lows, highs = [], [], []
            for app in run["apps"]:
                summary = ratio_summary(samples, app, mode, key, invert=invert) or (float("nan"),) * 3
                medians.append(summary[0])
                lows.append(summary[0] - summary[1])
                highs.append(summary[2] - summary[0])
            positions = [app_index + (index - (len(modes) - 1) / 2) * width for app_index in range(len(run["apps"]))]
            bars = axis.bar(positions, medians, width, yerr=[lows, highs], capsize=3,
                            color=colours.get(mode, "grey"), label=MODE_LABELS.get(mode, mode))
            axis.bar_label(bars, labels=[f"{value:.2f}" if value < 10 else f"{value:.0f}" for value in medians],
                           fontsize=7, padding=2)
        axis.set_yscale("log")
        axis.axhline(1.0, color="black", linewidth=0.8)
        axis.set_xticks(range(len(run["apps"])), run["apps"])
        title = "in-process latency" if kind == "inprocess" else "server throughput (slowdown)"
        axis.set_title(f"Python {run['version']}: {title}", fontsize=10)
        axis.set_ylabel("× no coverage (log scale, lower is better)")
        axis.grid(axis="y", which="both", alpha=0.25)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, frameon=False)
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    runs = load()
    if not runs:
        raise SystemExit(f"no results in {RESULTS_DIR}: run bench/run first")
    with open(os.path.join(RESULTS_DIR, "overhead.md"), "w", encoding="utf-8") as output:
        output.write(write_markdown(runs))
    draw(runs, os.path.join(RESULTS_DIR, "overhead.png"))
    print(f"wrote {os.path.join(RESULTS_DIR, 'overhead.md')} and overhead.png")


if __name__ == "__main__":
    main()
