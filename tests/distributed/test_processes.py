"""Two processes, two CPU devices each, after jax.distributed.initialize (gloo collectives): a Jacobian whose
pieces live in both processes equals each process's own one-device result on the pieces it holds."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

WORKER = Path(__file__).with_name("_process_worker.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_dense_jacobian_across_two_processes():
    port = str(_free_port())
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"} | {"JAX_PLATFORMS": "cpu"}
    procs = [subprocess.Popen([sys.executable, str(WORKER), str(pid), port], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for pid in (0, 1)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    for pid, res in enumerate(results):
        assert (res["pid"], res["devices"], res["local"]) == (pid, 4, 2)
        for name in ("forward", "reverse", "forward chunked", "params"):
            case = res[name]
            assert case["max_err"] <= 1e-12, (pid, name)
            assert case["local_shards_only"] and case["split"], (pid, name)
