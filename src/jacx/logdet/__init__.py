"""Volume change at scale: log-determinants, traces and divergences of square Jacobians.

>>> import jax.numpy as jnp, jacx.logdet as ld
>>> round(float(ld.slogdet(lambda v: 3.0 * v)(jnp.ones(2)).logabsdet), 4)   # log 9
2.1972
"""

from ._logdet import LogDet, logdet, slogdet
from ._plot import VolumeMap, plot_map, volume_map
from ._series import residual_logdet
from ._structure import JacobianStructure, analyze_pattern
from ._trace import Estimate, JacobianOperator, divergence, hutchinson, hutchpp, jacobian_operator, trace

__all__ = [
    "LogDet",
    "logdet",
    "slogdet",
    "JacobianStructure",
    "analyze_pattern",
    "Estimate",
    "JacobianOperator",
    "jacobian_operator",
    "trace",
    "divergence",
    "hutchinson",
    "hutchpp",
    "residual_logdet",
    "VolumeMap",
    "volume_map",
    "plot_map",
]
