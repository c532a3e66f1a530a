import numpy as np


def central_difference(f, x, h=1e-6):
    """Float64 central finite differences of a NumPy function f: R^n -> R^m; returns the (m, n) matrix."""
    x = np.asarray(x, dtype=np.float64)
    cols = []
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = h
        cols.append((np.asarray(f(x + e), dtype=np.float64) - np.asarray(f(x - e), dtype=np.float64)) / (2 * h))
    return np.stack(cols, axis=-1)
