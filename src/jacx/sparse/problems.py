"""Built-in test problems with known sparse Jacobians, as ``(f, x0)`` pairs.

Each function takes a size and returns the residual ``f`` and an input ``x0`` of the shape ``f`` expects (in
float32; convert ``x0`` for double precision).  They are the problems of the benchmark and of the
``jacx sparse`` command line:

* :func:`brusselator_2d` -- the 2D Brusselator on a periodic ``N x N`` grid (5-point Laplacian), state
  ``(2, N, N)`` or, with ``layout=``, flat, interleaved ``(N, N, 2)`` or randomly numbered (``LAYOUTS``);
* :func:`stencil_3d` -- a 7-point stencil over a flat vector, zero or periodic boundaries;
* :func:`mesh_laplacian` -- a nonlinear diffusion on an unstructured Delaunay mesh (gather / scatter-add);
* :func:`broyden_tridiagonal` and :func:`broyden_banded` -- Broyden's classic test functions;
* :func:`conv_layer` -- a 1-D convolutional layer ``tanh(conv(x, W) + b)``;
* :func:`arrow` -- one dense row, one dense column and the diagonal.

``PROBLEMS`` maps the command-line names to these functions.

>>> import jacx.sparse as js
>>> from jacx.sparse.problems import brusselator_2d
>>> f, x0 = brusselator_2d(48)
>>> jac = js.jacobian(f, x0)
>>> jac.shape, jac.n_colors
((4608, 4608), 6)
"""

from jacx.sparse._problems import (
    LAYOUTS,
    PROBLEMS,
    Problem,
    arrow,
    broyden_banded,
    broyden_tridiagonal,
    brusselator_2d,
    conv_layer,
    mesh_laplacian,
    stencil_3d,
)

__all__ = [
    "LAYOUTS",
    "PROBLEMS",
    "Problem",
    "arrow",
    "broyden_banded",
    "broyden_tridiagonal",
    "brusselator_2d",
    "conv_layer",
    "mesh_laplacian",
    "stencil_3d",
]
