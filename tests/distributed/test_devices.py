"""Jacobians spread over several devices equal the one-device result (float64), stay split, compile once.

Each check runs in a fresh subprocess with 8 simulated CPU devices (XLA's host platform device count is read
when JAX starts, so it cannot change inside this test session).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("_worker.py")


def run_worker(check: str, devices: int = 8, **env: str) -> dict:
    full = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
            "JAX_PLATFORMS": "cpu", **env}
    done = subprocess.run([sys.executable, str(WORKER), check], capture_output=True, text=True, env=full,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def dense():
    return run_worker("dense")


def test_dense_jacobians_on_1_2_4_8_devices_equal_one_device(dense):
    assert dense["devices"] == 8
    assert len(dense["cases"]) == 7 * 4
    for name, case in dense["cases"].items():
        assert case["diff"] <= 1e-12, name


def test_dense_results_stay_split_over_the_devices(dense):
    for name, case in dense["cases"].items():
        d = int(name.rsplit("/ ", 1)[1])
        if name.startswith(("forward", "reverse")):  # 16 inputs, 24 outputs: both divide by 1, 2, 4, 8
            assert case["spread"] == [[d, d > 1]], name


def test_dense_compiles_once_per_shape(dense):
    assert dense["compiles_first_call"] == 1  # the sharded program, nothing else
    assert dense["compiles_later_calls"] == 0  # new values of the same shape


def test_a_jacobian_too_large_for_one_device_is_computed_across_eight():
    # 1024 x 1024 float64 = 8 MiB; compiled, about 2.5 copies at the peak: too much for a 12 MiB device, but an
    # eighth of it per device fits
    out = run_worker("memory", JACX_MEMORY_LIMIT_BYTES="12MiB")
    assert out["one device"].startswith("too large")
    assert out["eight devices diff"] <= 1e-12
    assert out["eight devices spread"] == [[8, True]]
    # the same clear error when even an eighth does not fit, and it reasons per device
    message = out["too large for eight"]
    assert message.startswith("too large") and "\n" not in message
    assert "Each device's share of the dense Jacobian (1/8) is 4096 x 512" in message, message
    assert "(per device, 8 devices)" in message, message


def test_bad_devices_are_refused_with_one_line():
    import jax
    import jax.numpy as jnp

    import jacx

    f = lambda v: jnp.sin(v)  # noqa: E731
    for bad, words in [("gpu", "received devices='gpu'"), ([1, 2], "devices holds a int"), ([], "an empty sequence"),
                       (3, "received devices of type int"), ([jax.devices()[0]] * 2, "lists a device twice")]:
        with pytest.raises(jacx.JacxUsageError, match="Fix:|Fix") as info:
            jacx.jacobian(f, devices=bad)
        assert words in str(info.value) and "\n" not in str(info.value)
    # one device: the plain path, same numbers
    x = jnp.linspace(0.0, 1.0, 5)
    assert jnp.array_equal(jacx.jacobian(f, devices=jax.devices()[:1])(x), jacx.jacobian(f)(x))


@pytest.fixture(scope="module")
def sparse():
    return run_worker("sparse")


def test_sparse_jacobians_on_1_2_4_8_devices_equal_one_device(sparse):
    assert sparse["devices"] == 8
    assert len(sparse["cases"]) == 6 * 4 * 2
    for name, case in sparse["cases"].items():
        assert case["diff"] <= 1e-12, name
        assert case["colors"][0] == case["colors"][1], name  # the same coloring, split
    # every kind of coloring was split: forward, reverse and both sides
    assert {c["mode"] for c in sparse["cases"].values()} == {"forward", "reverse", "bidirectional"}
    assert {c["layout"] for n, c in sparse["cases"].items() if "/ 1 /" not in n} == {"compressed", "local"}


def test_sparse_results_stay_split_unless_gathered(sparse):
    for name, case in sparse["cases"].items():
        d = int(name.split(" / ")[1])
        gathered = name.endswith("gathered")
        for devices, split in case["spread"]:  # the BCOO's data and indices
            assert devices == d, name
            assert split == (d > 1 and not gathered), name


def test_sparse_compiles_once_and_composes_with_jit_and_vmap(sparse):
    assert sparse["compiles_first_call"] == 1
    assert sparse["compiles_later_calls"] == 0
    assert sparse["jit diff"] <= 1e-12 and sparse["vmap diff"] <= 1e-12


def test_trace_and_logdet_estimators_on_1_2_4_8_devices_equal_one_device():
    out = run_worker("estimators")
    assert len(out["cases"]) == 11 * 4
    for name, case in out["cases"].items():
        assert case["diff"] <= 1e-12 * max(1.0, case["scale"]), name


def test_a_mesh_set_with_jax_set_mesh_is_used_when_devices_is_none():
    out = run_worker("context")
    assert out["outside"] == [[1, False]]  # no mesh: one device, as before
    auto = out["auto"]
    for key in ("diff", "jit diff", "sparse diff", "trace diff"):
        assert auto[key] <= 1e-12, key
    assert auto["spread"] == [[4, True]] and auto["jit spread"] == [[4, True]]
    assert auto["sparse devices"] == 4 and auto["sparse spread"] == [[4, True]]
    # explicit axes: computed on one device, and said once
    assert out["explicit"]["diff"] <= 1e-12
    assert len(out["explicit"]["warnings"]) == 1 and "explicit axes" in out["explicit"]["warnings"][0]


def test_bad_devices_are_refused_by_sparse_and_estimators():
    import jax.numpy as jnp

    import jacx
    import jacx.logdet
    import jacx.sparse

    x = jnp.linspace(0.0, 1.0, 5)
    for make in (lambda: jacx.sparse.jacobian(jnp.sin, x, devices="gpu"),
                 lambda: jacx.logdet.trace(jnp.sin, devices="gpu"),
                 lambda: jacx.logdet.logdet(jnp.sin, devices="gpu"),
                 lambda: jacx.logdet.hutchinson(jnp.eye(3), None, 2, devices="gpu")):
        with pytest.raises(jacx.JacxUsageError, match="received devices='gpu'.*Fix:"):
            make()
    with pytest.raises(jacx.JacxUsageError, match="gather"):
        jacx.sparse.jacobian(jnp.sin, x, devices="all", gather="yes")
