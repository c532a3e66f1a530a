"""Small helpers shared by the benchmark scripts: interleaved timing, machine info, Markdown tables.

Benchmark-only code: nothing in ``src/jacx`` imports it.
"""

from __future__ import annotations

import datetime as _dt
import gc
import importlib.metadata
import os
import platform
import random
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------------- timing
def calibrate(fn: Callable[[], object], target_s: float, max_number: int = 100_000) -> tuple[int, float]:
    """How many back-to-back calls of ``fn`` take about ``target_s`` seconds (at least 1), and the seconds per call."""
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= target_s / 4 or number >= max_number:
            break
        number *= 4 if elapsed < target_s / 40 else 2
    per_call = elapsed / number
    return max(1, min(max_number, round(target_s / max(per_call, 1e-9)))), per_call


def time_interleaved(
    contestants: dict[str, Callable[[], object]],
    *,
    repeats: int,
    target_s: float,
    warmup: int = 3,
    lead_in_below_s: float = 0.02,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Per-call seconds of each contestant, one sample per repeat, contestants interleaved within each repeat.

    Every callable must do one complete call and wait for its result (e.g. ``.block_until_ready()``). Each
    sample times ``number`` back-to-back calls (calibrated so a sample lasts about ``target_s``) and divides.

    Two precautions against bias between contestants:

    * the order is shuffled afresh in every round (seeded), so no contestant always runs first or always right
      after the same other one; background load then hits every contestant alike, and the median over repeats
      filters out bursts;
    * each sample of a fast contestant (under ``lead_in_below_s`` per call) is preceded by a few untimed
      "lead-in" calls of the same contestant (about a tenth of a sample). They absorb the cost of switching
      from the previous contestant: e.g. right after eager PyTorch, whose worker threads keep spinning for a
      moment, the next fast JAX call was measured twice as slow on a 2-core machine.
    """
    names = list(contestants)
    for fn in contestants.values():
        for _ in range(warmup):
            fn()
    plan = {}
    for name in names:
        number, per_call = calibrate(contestants[name], target_s)
        plan[name] = (number, max(1, round(number / 10)) if per_call < lead_in_below_s else 0)
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {name: [] for name in names}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            order = names[:]
            rng.shuffle(order)
            for name in order:
                fn, (number, lead_in) = contestants[name], plan[name]
                for _ in range(lead_in):
                    fn()
                t0 = time.perf_counter()
                for _ in range(number):
                    fn()
                samples[name].append((time.perf_counter() - t0) / number)
            gc.collect()
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def spread(xs: Sequence[float]) -> float:
    """Half the inter-quartile range relative to the median (a robust +-% noise figure)."""
    if len(xs) < 4:
        return float("nan")
    q1, _, q3 = statistics.quantiles(xs, n=4)
    return (q3 - q1) / 2 / statistics.median(xs)


def fmt_time(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


# --------------------------------------------------------------------------------------------------- machine
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def command_line() -> str:
    """The command that ran this script, with the script path relative to the repository (no machine paths)."""
    script = Path(sys.argv[0]).resolve()
    try:
        script_text = script.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        script_text = script.name
    return shlex.join(["python", script_text, *sys.argv[1:]])


def load_average() -> str:
    """The 1/5/15-minute load averages (a gauge of how busy the machine was), or "n/a"."""
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except (AttributeError, OSError):
        return "n/a"


class ForeignLoad:
    """How many cores other processes kept busy while a benchmark ran: (all CPUs' busy time - this process's own
    CPU time) / wall time, from ``/proc/stat`` and ``os.times``.  Unlike the load average, the benchmark's own
    threads (SciPy's BLAS, XLA's pool) do not count, so a multi-threaded benchmark on a quiet machine reads ~0.

    >>> f = ForeignLoad()
    >>> f.cores() >= 0.0 or f.cores() != f.cores()    # a number of cores, NaN where /proc/stat is missing
    True
    """

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        try:
            with open("/proc/stat") as fh:
                fields = [int(v) for v in fh.readline().split()[1:9]]
            busy = (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
        except (OSError, ValueError, IndexError):
            busy = float("nan")
        t = os.times()
        return busy, t.user + t.system + t.children_user + t.children_system, time.monotonic()

    def cores(self) -> float:
        busy0, own0, t0 = self._start
        busy1, own1, t1 = self._sample()
        return max(0.0, ((busy1 - busy0) - (own1 - own0)) / max(t1 - t0, 1e-9))


def load_1min(load_text: str) -> float:
    """The 1-minute figure of a ``load_average()`` string (0.0 when unknown)."""
    try:
        return float(load_text.split("/")[0])
    except ValueError:
        return 0.0


def machine_info(packages: Sequence[str], extra: dict[str, str] | None = None) -> dict[str, str]:
    info = {
        "date (UTC)": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "command": command_line(),
        "CPU": _cpu_model(),
        "cores (usable / logical)": f"{usable_cores()} / {os.cpu_count()}",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
    }
    info.update({p: _version(p) for p in packages})
    info.update(extra or {})
    return info


# --------------------------------------------------------------------------------------------------- output
def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cols = list(zip(*([headers] + [list(map(str, r)) for r in rows])))
    widths = [max(len(c) for c in col) for col in cols]
    fmt = lambda row: "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def write_report(path: str, title: str, info: dict[str, str], body: str) -> None:
    """Write a benchmark's printed tables to a Markdown file with the machine info and the command."""
    lines = [f"# {title}", "", f"Generated by `{command_line()}`; rerun it to refresh.", "", "## Machine", ""]
    lines += [markdown_table(["", ""], [[k, v] for k, v in info.items()]), "", "## Results", "", "```", body.rstrip(), "```", ""]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    print(f"\nwritten to {path}")
