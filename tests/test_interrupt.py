"""Ctrl-C: a ``jacx`` command ends with one line and exit status 130, never a traceback or a partial file; Python
code calling a ``cli_main`` in-process gets an ordinary KeyboardInterrupt instead of being killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from jacx._argparse import interrupt_guard, save_figure

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


class _InterruptedFigure:
    """A figure whose save is interrupted by Ctrl-C halfway through writing the file."""

    def savefig(self, path, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"\x89PNG half an image")
            fh.flush()
            os.kill(os.getpid(), signal.SIGINT)
            fh.write(b" and the rest")


def test_in_process_callers_get_keyboard_interrupt_and_no_partial_file(tmp_path):
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), interrupt_guard("jacx test"):  # under pytest: not the jacx program
        save_figure(_InterruptedFigure(), str(tmp_path / "fig.png"))
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGINT) is before


def _run(code: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_the_program_exits_130_with_one_line_and_removes_the_partial_file(tmp_path):
    code = f"""
        import os, signal
        from jacx._argparse import interrupt_guard, save_figure

        class Figure:
            def savefig(self, path, **kwargs):
                open(path, "wb").write(b"half")
                os.kill(os.getpid(), signal.SIGINT)
                raise AssertionError("not reached")

        with interrupt_guard("jacx test", exit_process=True):
            print("saving", flush=True)
            save_figure(Figure(), {str(tmp_path / "fig.png")!r})
        print("not reached")
    """
    done = _run(code, tmp_path)
    assert done.returncode == 130
    assert done.stderr == "jacx test: interrupted\n"
    assert done.stdout == "saving\n"
    assert sorted(os.listdir(tmp_path)) == []


def test_ctrl_c_during_jacx_flow(tmp_path):
    # the real command: Ctrl-C while JAX compiles or trains used to print 50-120 lines of traceback (or segfault)
    out_dir = tmp_path / "figures"
    proc = subprocess.Popen(
        [sys.executable, "-m", "jacx._cli", "flow", "--steps", "1000000", "--layers", "2", "--hidden", "8",
         "--num-data", "1000", "--no-progress", "-o", str(out_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        first = proc.stdout.readline()  # "training a realnvp flow ...": the guard is in place, training starts
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert first.startswith("training a realnvp flow"), (first, err)
    assert proc.returncode == 130, err
    assert err == "jacx flow: interrupted\n"
    assert list(out_dir.iterdir()) == []
