#!/usr/bin/env python3
"""Set up and run jacx from a fresh checkout with nothing but python3.

    python3 dev.py demo            # the tutorial walkthrough (`jacx` with no arguments)
    python3 dev.py test            # the whole test suite, doctests included
    python3 dev.py bench [ARGS]    # install the benchmark peers and run benchmarks/run_all.py
    python3 dev.py jacx [ARGS]     # the jacx command itself, e.g. python3 dev.py jacx "x**2 + y, x*y" --at x=1,y=2

The first call makes a virtual environment in .venv and installs jacx into it (a minute or two: JAX is large);
later calls reuse it and reinstall only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def _run(cmd: list[str], **kw) -> int:
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, **kw)


def ensure_env(extras: str) -> None:
    stamp = VENV / f".jacx-installed-{extras}"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == want and PY.exists():
        return
    if not PY.exists():
        print("Creating a virtual environment in .venv ...", flush=True)
        try:
            venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
        except Exception as err:  # e.g. Debian without python3-venv
            sys.exit(f"Could not create a virtual environment ({err}). Install the venv module "
                     "(on Debian/Ubuntu: apt-get install python3-venv) and try again.")
    print(f"Installing jacx[{extras}] and its dependencies (first time: a minute or two) ...", flush=True)
    pip = [PY, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if _run(pip + ["--upgrade", "pip"]) != 0 or _run(pip + ["-e", f".[{extras}]"]) != 0:
        sys.exit("Installing jacx failed; see the pip output above.")
    stamp.write_text(want)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    what, rest = argv[0], argv[1:]
    if what == "demo":
        ensure_env("test")
        return _run([BIN / "jacx", *rest])
    if what == "jacx":
        ensure_env("test")
        return _run([BIN / "jacx", *rest])
    if what == "test":
        ensure_env("test")
        parallel = [] if any(a.startswith("-n") for a in rest) else ["-n", "auto"]  # one worker per core
        return _run([PY, "-m", "pytest", "-q", *parallel, *rest])
    if what == "bench":
        ensure_env("bench")
        return _run([PY, "benchmarks/run_all.py", *rest])
    print(f"Unknown command {what!r}; expected demo, test, bench or jacx.\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
