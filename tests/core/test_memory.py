"""The memory guard: container (cgroup) and rlimit headroom, the env override, and a peak estimate that holds.

Simulated limits (a fake /proc and /sys/fs/cgroup tree under tmp_path) always run; the real-cgroup test creates a
child memory cgroup below this process's own one and is skipped where that is not allowed.
"""

import json
import os
import resource
import subprocess
import sys
import textwrap
import time
import uuid

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jacx
from jacx import _memory

GiB = 2**30
MiB = 2**20


def _memory_namespaces():
    """The globals of every loaded copy of jacx._memory: doctest collection may import a second one next to the
    copy that jacx.jacobian calls."""
    from jacx import _dense

    found = {id(vars(_memory)): vars(_memory)}
    for value in vars(_dense).values():
        if callable(value) and getattr(value, "__module__", None) == "jacx._memory" and hasattr(value, "__globals__"):
            found[id(value.__globals__)] = value.__globals__
    return list(found.values())


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def fake_kernel(tmp_path, monkeypatch):
    """An empty fake /proc and /sys/fs/cgroup; the machine has 16 GiB available and no override is set."""
    proc, cg = tmp_path / "proc", tmp_path / "cgroup"
    _write(proc / "meminfo", f"MemTotal: {32 * GiB // 1024} kB\nMemAvailable: {16 * GiB // 1024} kB\n")
    _write(proc / "self" / "status", "Name: python\nVmSize:\t  1048576 kB\nVmData:\t   524288 kB\n")
    cg.mkdir()
    for namespace in _memory_namespaces():
        monkeypatch.setitem(namespace, "PROC_ROOT", str(proc))
        monkeypatch.setitem(namespace, "CGROUP_ROOT", str(cg))
    monkeypatch.delenv("JACX_MEMORY_LIMIT_BYTES", raising=False)
    monkeypatch.setattr(resource, "getrlimit", lambda which: (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    return proc, cg


def _v2(proc, cg, path, levels):
    """A pure cgroup v2 tree: ``levels`` maps a cgroup path to (memory.max, memory.current[, inactive_file])."""
    _write(proc / "self" / "cgroup", f"0::{path}\n")
    _write(cg / "cgroup.controllers", "cpu memory\n")
    for rel, (limit, current, *inactive) in levels.items():
        d = cg / rel.strip("/") if rel.strip("/") else cg
        _write(d / "memory.max", f"{limit}\n")
        _write(d / "memory.current", f"{current}\n")
        _write(d / "memory.stat", f"anon {current}\ninactive_file {inactive[0] if inactive else 0}\n")


def _v1(proc, cg, path, levels):
    """A cgroup v1 memory hierarchy: ``levels`` maps a path to (limit_in_bytes, usage_in_bytes)."""
    _write(proc / "self" / "cgroup", f"5:cpu,cpuacct:{path}\n4:memory:{path}\n0::/\n")
    for rel, (limit, usage) in levels.items():
        d = cg / "memory" / rel.strip("/") if rel.strip("/") else cg / "memory"
        _write(d / "memory.limit_in_bytes", f"{limit}\n")
        _write(d / "memory.usage_in_bytes", f"{usage}\n")
        _write(d / "memory.stat", "cache 0\ntotal_inactive_file 0\n")


def _host_only():
    stats = jax.devices()[0].memory_stats()
    if stats and "bytes_limit" in stats:
        pytest.skip("the default device reports its own memory; the host limits do not apply")


# --------------------------------------------------------------------------------------- simulated limits
def test_cgroup_v2_limit_is_respected(fake_kernel):
    proc, cg = fake_kernel
    _v2(proc, cg, "/user.slice/app", {"/user.slice/app": (3 * GiB, 1 * GiB, 256 * MiB)})
    assert _memory.host_memory_limits()["cgroup v2"] == 2 * GiB + 256 * MiB  # inactive page cache counts as free
    _host_only()
    assert _memory.available_memory_bytes() == 2 * GiB + 256 * MiB  # not the machine's 16 GiB


def test_cgroup_v2_parent_holds_the_tighter_limit(fake_kernel):
    proc, cg = fake_kernel
    _v2(proc, cg, "/kubepods/pod1/c1", {"/kubepods/pod1/c1": ("max", 100 * MiB), "/kubepods/pod1": (GiB, 700 * MiB)})
    assert _memory.host_memory_limits()["cgroup v2"] == GiB - 700 * MiB


def test_cgroup_v2_without_limit_leaves_the_host_figure(fake_kernel):
    proc, cg = fake_kernel
    _v2(proc, cg, "/", {"/": ("max", 5 * GiB)})
    assert "cgroup v2" not in _memory.host_memory_limits()
    _host_only()
    assert _memory.available_memory_bytes() == 16 * GiB


def test_cgroup_v2_hybrid_mount_and_namespaced_path(fake_kernel):
    # hybrid layout: v2 at unified/; the path is from outside a cgroup namespace, so the mount is the own cgroup
    proc, cg = fake_kernel
    _write(proc / "self" / "cgroup", "0::/docker/0123abcd\n")
    _write(cg / "unified" / "memory.max", f"{2 * GiB}\n")
    _write(cg / "unified" / "memory.current", f"{GiB // 2}\n")
    assert _memory.host_memory_limits()["cgroup v2"] == 2 * GiB - GiB // 2


def test_cgroup_v1_limit_and_unlimited_parent(fake_kernel):
    proc, cg = fake_kernel
    unlimited = 9223372036854771712
    _v1(proc, cg, "/docker/abc", {"/docker/abc": (3 * GiB, GiB), "/docker": (unlimited, 5 * GiB), "/": (unlimited, 9 * GiB)})
    limits = _memory.host_memory_limits()
    assert limits["cgroup v1"] == 2 * GiB and "cgroup v2" not in limits
    _host_only()
    assert _memory.available_memory_bytes() == 2 * GiB


def test_cgroup_v1_no_limit(fake_kernel):
    proc, cg = fake_kernel
    _v1(proc, cg, "/", {"/": (9223372036854771712, GiB)})
    assert "cgroup v1" not in _memory.host_memory_limits()


def test_rlimit_as_minus_virtual_size(fake_kernel, monkeypatch):
    limits = {resource.RLIMIT_AS: 5 * GiB, resource.RLIMIT_DATA: resource.RLIM_INFINITY}
    monkeypatch.setattr(resource, "getrlimit", lambda which: (limits.get(which, resource.RLIM_INFINITY),) * 2)
    assert _memory.host_memory_limits()["rlimit"] == 5 * GiB - GiB  # fake VmSize is 1 GiB


def test_env_override_with_units(monkeypatch):
    for text, value in [("3GiB", 3 * GiB), ("3e9", 3 * 10**9), ("512M", 512 * 10**6), ("2 GB", 2 * 10**9), ("1000", 1000)]:
        monkeypatch.setenv("JACX_MEMORY_LIMIT_BYTES", text)
        assert _memory.available_memory_bytes() == value
    monkeypatch.setenv("JACX_MEMORY_LIMIT_BYTES", "lots")
    with pytest.raises(jacx.JacxUsageError, match="JACX_MEMORY_LIMIT_BYTES='lots'"):
        _memory.available_memory_bytes()


def test_jacobian_over_a_simulated_cgroup_limit_raises(fake_kernel):
    _host_only()
    proc, cg = fake_kernel
    _v2(proc, cg, "/app", {"/app": (40 * MiB, 30 * MiB)})  # 10 MiB left; the machine has 16 GiB
    f = lambda x: jnp.tanh(x) * jnp.sum(x)
    with pytest.raises(jacx.JacobianTooLargeError, match=r"2000 x 2000 .*16\.0 MB.*cgroup v2 memory limit"):
        jacx.jacobian(f, jit=False)(jnp.ones(2000))
    with pytest.raises(jacx.JacobianTooLargeError):
        jacx.jacobian(f)(jnp.ones(2001))  # also while tracing for the compiled version


def test_jacobian_twice_its_size_is_needed(fake_kernel, monkeypatch):
    # the Jacobian alone (4 MB) fits in 5 MB, but building it takes the stacked outputs and the reshaped copy
    _host_only()
    proc, cg = fake_kernel
    _v1(proc, cg, "/job", {"/job": (10 * GiB, 0)})
    monkeypatch.setenv("JACX_MEMORY_LIMIT_BYTES", "6e6")
    with pytest.raises(jacx.JacobianTooLargeError, match="1000 x 1000"):
        jacx.jacobian(lambda x: x**2, jit=False)(jnp.ones(1000))


def test_simulated_limit_chunks_with_the_same_result(fake_kernel):
    _host_only()
    proc, cg = fake_kernel
    A = jnp.ones((300, 300)) / 300
    f = lambda x: jnp.tanh(A @ jnp.tanh(A @ x + 1.0))
    x = jnp.linspace(0.0, 1.0, 300)
    full = jacx.jacobian(f, jit=False)(x)
    _v2(proc, cg, "/app", {"/app": (50 * MiB, 10 * MiB)})  # 40 MiB left, 32 MiB reserved: a few passes fit
    _, per_pass = _memory.per_pass_bytes(f, x)
    chunk = _memory.plan_chunk(300, 300, 300, per_pass, 4, None)
    assert chunk is not None and 1 <= chunk < 300
    budget = _memory.SAFETY_FRACTION * 40 * MiB - _memory.RESERVE_BYTES
    assert _memory.peak_bytes(300, 300, per_pass, 4, chunk, _memory.EAGER_JACOBIAN_COPIES) <= budget
    np.testing.assert_allclose(jacx.jacobian(f, jit=False)(x), full, rtol=1e-6)


# ------------------------------------------------------------------------------------ the estimate holds
_PEAK_SCRIPT = textwrap.dedent(
    """
    import json, os, resource, sys
    n, m, mode, jit, limit = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1", int(sys.argv[5])
    import jax, jax.numpy as jnp, jacx
    from jacx import _memory
    idx = jnp.arange(m) % n
    f = lambda x: jnp.tanh(jnp.sin(x[idx]) * jnp.sum(x)) * jnp.mean(x)
    small = jnp.arange(8) % 4
    jacx.jacobian(lambda x: jnp.tanh(x[small]) * jnp.sum(x), mode=mode, jit=jit)(jnp.ones(4)).block_until_ready()
    x = jnp.linspace(0.1, 1.0, n, dtype=jnp.float32)
    _, per_pass = _memory.per_pass_bytes(f, x)
    passes = n if mode == "forward" else m
    if limit:
        os.environ["JACX_MEMORY_LIMIT_BYTES"] = str(limit)
    chunk = _memory.plan_chunk(m, n, passes, per_pass, 4, None, compiled=jit)  # jacx's own chunk is no larger
    with open("/proc/self/statm") as fh:
        base = int(fh.read().split()[1]) * resource.getpagesize()
    jacx.jacobian(f, mode=mode, jit=jit)(x).block_until_ready()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    copies = _memory.JACOBIAN_COPIES if jit else _memory.EAGER_JACOBIAN_COPIES
    predicted = _memory.peak_bytes(m, n, per_pass, 4, passes if chunk is None else chunk, copies)
    print(json.dumps({"measured": peak - base, "predicted": predicted, "chunk": chunk}))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and ru_maxrss in kB (Linux)")
@pytest.mark.skipif(os.environ.get("JACX_MEASURE_MEMORY") != "1",
                    reason="a measurement (peak RSS includes XLA's compiler, which varies with what else runs); "
                    "run with JACX_MEASURE_MEMORY=1 on a quiet machine")
@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("jit", [True, False])
@pytest.mark.parametrize("limited", [False, True])
def test_predicted_peak_covers_the_measured_peak(mode, jit, limited):
    # 3000 x 4000 float32 = 48 MB; the limit leaves room for about a quarter of the passes at once
    n, m = 3000, 4000
    limit = 0
    if limited:
        idx = jnp.arange(m) % n
        f = lambda x: jnp.tanh(jnp.sin(x[idx]) * jnp.sum(x)) * jnp.mean(x)  # as in the script
        _, per_pass = _memory.per_pass_bytes(f, jnp.ones(n, jnp.float32))
        copies = _memory.JACOBIAN_COPIES if jit else _memory.EAGER_JACOBIAN_COPIES
        passes = n if mode == "forward" else m
        limit = int(_memory.peak_bytes(m, n, per_pass, 4, passes // 4, copies) / _memory.SAFETY_FRACTION)
    env = {k: v for k, v in os.environ.items() if k != "JACX_MEMORY_LIMIT_BYTES"}
    env["JAX_PLATFORMS"] = "cpu"
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, str(n), str(m), mode, "1" if jit else "0", str(limit)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert (got["chunk"] is not None) == limited
    assert got["measured"] <= got["predicted"], got
    if limited:
        assert got["measured"] <= limit, got


# ------------------------------------------------------------------------------------------- a real cgroup
def _own_memory_cgroup():
    """(version, directory) of this process's memory cgroup where a child with a memory limit can be made."""
    v2, v1 = _memory._own_cgroups()
    root = "/sys/fs/cgroup"
    if v2 is not None:
        mount = root if os.path.exists(os.path.join(root, "cgroup.controllers")) else os.path.join(root, "unified")
        here = os.path.join(mount, v2.lstrip("/"))
        try:
            with open(os.path.join(here, "cgroup.subtree_control")) as fh:
                if "memory" in fh.read().split():
                    return 2, here
        except OSError:
            pass
    if v1 is not None:
        here = os.path.join(root, "memory", v1.lstrip("/"))
        if os.path.isdir(here):
            return 1, here
    return None, None


@pytest.fixture
def memory_cgroup():
    """A fresh child memory cgroup (version, directory); skipped where cgroups cannot be made or swap is on."""
    if not sys.platform.startswith("linux"):
        pytest.skip("cgroups are Linux only")
    try:
        with open("/proc/swaps") as fh:
            if len(fh.read().strip().splitlines()) > 1:
                pytest.skip("swap is on: a cgroup over its limit would swap instead of being killed")
    except OSError:
        pass
    version, parent = _own_memory_cgroup()
    if version is None:
        pytest.skip("no memory cgroup controller to nest a limited cgroup in")
    child = os.path.join(parent, f"jacx-test-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        os.mkdir(child)
    except OSError as err:
        pytest.skip(f"cannot create a cgroup here ({err})")
    try:
        if not os.path.exists(os.path.join(child, "memory.max" if version == 2 else "memory.limit_in_bytes")):
            pytest.skip("the memory controller is not enabled for child cgroups")
        yield version, child
    finally:
        for _ in range(50):
            try:
                os.rmdir(child)
                break
            except OSError:
                time.sleep(0.1)


_CGROUP_SCRIPT = textwrap.dedent(
    """
    import sys
    n, mode = int(sys.argv[1]), sys.argv[2]
    import jax.numpy as jnp, jacx
    f = lambda x: jnp.tanh(x) * jnp.sum(x)
    try:
        J = jacx.jacobian(f, mode=mode)(jnp.linspace(0.0, 1.0, n, dtype=jnp.float32))
        J.block_until_ready()
        print("built", J.shape[0], float(J[1, 1]))
    except jacx.JacobianTooLargeError as err:
        print("too large:", err)
    """
)


def _run_in_cgroup(version, child, limit, n, mode):
    with open(os.path.join(child, "memory.max" if version == 2 else "memory.limit_in_bytes"), "w") as fh:
        fh.write(str(limit))
    env = {k: v for k, v in os.environ.items() if k != "JACX_MEMORY_LIMIT_BYTES"}
    env["JAX_PLATFORMS"] = "cpu"
    procs = os.path.join(child, "cgroup.procs")
    # the shell moves itself into the cgroup, then becomes Python: everything it allocates is charged there
    cmd = ["sh", "-c", f'echo $$ > "{procs}" && exec "$0" -c "$1" "$2" "$3"', sys.executable, _CGROUP_SCRIPT, str(n), mode]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_real_cgroup_limit_raises_instead_of_being_killed(memory_cgroup, mode):
    # 1.2 GB Jacobian in a 1 GiB cgroup on a machine with far more: an error, not the OOM killer
    version, child = memory_cgroup
    out = _run_in_cgroup(version, child, GiB, 17_500, mode)
    assert out.returncode == 0, f"killed or failed (rc {out.returncode}): {out.stderr[-2000:]}"
    assert "too large:" in out.stdout and "cgroup" in out.stdout, out.stdout


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_real_cgroup_limit_builds_what_fits(memory_cgroup, mode):
    # a 121 MB Jacobian (4 copies counted) in a 1 GiB cgroup: built, in chunks where needed, and never killed
    version, child = memory_cgroup
    out = _run_in_cgroup(version, child, GiB, 5_500, mode)
    assert out.returncode == 0, f"killed or failed (rc {out.returncode}): {out.stderr[-2000:]}"
    assert out.stdout.startswith("built 5500"), out.stdout
