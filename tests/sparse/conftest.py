import jax
import numpy as np
import pytest


@pytest.fixture
def x64():
    """Run a test in float64 (restores the previous setting)."""
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


def dense_nonzeros(f, x, n_points=3, seed=0):
    """Union of the nonzeros of the float64 dense Jacobian at random points near x (needs x64)."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=np.float64)
    out = None
    for _ in range(n_points):
        z = x + rng.uniform(-0.5, 0.5, size=x.shape)
        j = np.asarray(jax.jacfwd(lambda a: jax.numpy.ravel(f(a)))(jax.numpy.asarray(z)))
        nz = j.reshape(j.shape[0], -1) != 0
        out = nz if out is None else out | nz
    return out
