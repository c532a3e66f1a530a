"""Run every benchmark (benchmarks/bench_*.py) one after another; each writes its table under docs/.

    python benchmarks/run_all.py            # all of them
    python benchmarks/run_all.py --quick    # a short smoke run of each
    python benchmarks/run_all.py dense sparse   # only these
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    flags = [a for a in argv if a.startswith("-")]
    names = [a for a in argv if not a.startswith("-")]
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in names]
    failed = []
    for script in scripts:
        print(f"\n=== {script.name} {' '.join(flags)}", flush=True)
        start = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script), *flags], cwd=HERE.parent)
        print(f"=== {script.name}: exit {rc} after {time.perf_counter() - start:.0f} s", flush=True)
        if rc:
            failed.append(script.name)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
