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


def test_dense_sparse_and_trace_across_two_processes():
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
        for mode, case in res["sparse"].items():  # the sparse Jacobian's entries, split over both processes
            assert case["max_err"] <= 1e-12, (pid, mode)
            assert case["local_shards_only"] and case["split"] and case["entries_here"] > 0, (pid, mode)
        for name, diff in res["trace"].items():
            assert diff <= 1e-12, (pid, name)
    # the two processes hold different entries that together make the whole pattern (29 rows: row 0 has 2 nonzeros,
    # x[0] and x[1]; the other 28 rows have 3, x[0], x[i] and x[i + 1])
    for mode in ("forward", "reverse"):
        assert sum(res["sparse"][mode]["entries_here"] for res in results) == 2 + 28 * 3, mode
