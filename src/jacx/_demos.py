"""``jacx demo NAME``: the application demos, each printing what it checked and the measured numbers.

Every demo is a function returning a dict of its measurements (the tests read them) and printing a short report.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

import jax
import jax.numpy as jnp
import numpy as np

from ._argparse import CommandLineError, OneLineParser, add_output_option, interrupt_guard, prepare_output_folder
from ._argparse import save_figure

__all__ = ["cli_main", "DEMOS", "install_hint"]

# Robotics Toolbox for MATLAB (P. Corke), unit_test/SerialLinkTest.m, Test_jacob0: Puma 560 at [0 pi/4 -pi 1 pi/4 0]
_PUMA_Q = [0.0, math.pi / 4, -math.pi, 1.0, math.pi / 4, 0.0]
_PUMA_J0 = [
    [0.1501, 0.0144, 0.3197, 0, 0, 0],
    [0.5963, 0, 0, 0, 0, 0],
    [0, 0.5963, 0.2910, 0, 0, 0],
    [0, 0, 0, 0.7071, -0.5950, 0.7702],
    [0, -1.0, -1.0, 0, -0.5403, -0.5950],
    [1.0, 0, 0, -0.7071, -0.5950, -0.2298],
]


def _say(out: TextIO, label: str, value: str, ok: bool | None = None) -> None:
    mark = "" if ok is None else ("  [ok]" if ok else "  [FAILED]")
    out.write(f"  {label:<52} {value}{mark}\n")


def demo_robotics(out: TextIO = sys.stdout, outdir: str | None = None) -> dict:
    """Puma 560 and Panda velocity kinematics against published values; inverse kinematics to a target."""
    from jacx.robotics import ikine, panda, planar2, puma560

    out.write("Robotics: geometric Jacobians of DH chains by automatic differentiation\n")
    arm = puma560()
    q = jnp.array(_PUMA_Q)
    J = arm.jacob0(q)
    err_ref = float(np.abs(np.asarray(J) - np.array(_PUMA_J0)).max())
    _say(out, "Puma 560 J0 vs Robotics Toolbox (4 decimals)", f"max |diff| = {err_ref:.1e}", err_ref < 1.5e-4)
    err_cross = float(jnp.abs(J - arm.jacob0_cross(q)).max())
    _say(out, "AD Jacobian vs cross-product formula", f"max |diff| = {err_cross:.1e}", err_cross < 1e-5)
    m = float(arm.manipulability(q, axes="trans"))
    _say(out, "Puma manipulability (translational), toolbox 0.1112", f"{m:.4f}", abs(m - 0.1112) < 1.5e-4)
    sing = arm.is_singular(arm.config("qr"))
    _say(out, "Puma 'ready' pose qr detected as singular", str(sing), sing)
    q_goal = jnp.array([0.4, 0.6, 2.7, 0.3, 0.5, -0.4])
    res = ikine(arm, arm.fkine(q_goal), q_goal + 0.3)
    _say(out, "DLS inverse kinematics to a reachable pose", f"{res.iterations} steps, |e| = {res.residual:.1e}",
         res.success)
    p = panda()
    q7 = jnp.array(p.config("qr"))
    err_panda = float(jnp.abs(p.jacob0(q7) - p.jacob0_cross(q7)).max())
    _say(out, "Panda (modified DH) AD vs cross-product", f"max |diff| = {err_panda:.1e}", err_panda < 1e-5)
    a = planar2()
    qa = jnp.array([0.3, 1.1])
    closed = abs(math.sin(1.1))
    m2 = float(a.manipulability(qa, axes="trans"))
    _say(out, "planar 2R manipulability vs a1 a2 |sin q2|", f"{m2:.5f} vs {closed:.5f}", abs(m2 - closed) < 1e-5)
    return {"puma_ref_err": err_ref, "cross_err": err_cross, "manip": m, "ik_success": res.success,
            "ik_residual": res.residual, "panda_cross_err": err_panda}


def demo_vision(out: TextIO = sys.stdout, outdir: str | None = None) -> dict:
    """Inverse-compositional Lucas-Kanade recovers a known affine warp of a real photograph."""
    from jacx.vision import Affine, align, plot_steepest_descent, sample_image, warp_image

    out.write("Vision: Lucas-Kanade alignment (inverse compositional) on scikit-image's 'camera' photograph\n")
    img = sample_image(smooth=1.5)
    p_true = np.array([0.03, -0.02, 0.025, -0.015, 2.3, -1.7])
    image = warp_image(img, "affine", p_true)
    box = (180, 150, 160, 160)
    t0 = time.perf_counter()
    res = align(image, img, box, "affine")
    seconds = time.perf_counter() - t0
    corners = np.array([[180, 150], [340, 150], [180, 310], [340, 310]], float)
    w = Affine()
    start = float(np.abs(np.asarray(w.apply(jnp.asarray(p_true), corners)) - corners).max())
    err = float(np.abs(np.asarray(w.apply(res.p, corners)) - np.asarray(w.apply(jnp.asarray(p_true), corners))).max())
    _say(out, "true affine parameters", np.array2string(p_true, precision=4))
    _say(out, "recovered parameters", np.array2string(np.asarray(res.p), precision=4))
    _say(out, "initial misalignment at the template corners", f"{start:.2f} px")
    _say(out, "final error at the template corners", f"{err:.4f} px (sub-pixel: < 0.05)", err < 0.05)
    _say(out, "iterations, time (incl. compile)", f"{res.iterations}, {seconds:.1f} s", res.converged)
    if outdir:
        import matplotlib

        matplotlib.use("Agg")
        fig = plot_steepest_descent(img, (200, 180, 120, 120), "affine")
        path = save_figure(fig, os.path.join(outdir, "steepest_descent_affine.png"), dpi=100)
        _say(out, "steepest-descent images written to", path)
    return {"corner_error_px": err, "initial_error_px": start, "iterations": res.iterations}


def demo_implicit(out: TextIO = sys.stdout, outdir: str | None = None) -> dict:
    """A deep-equilibrium layer differentiated by the implicit function theorem, against unrolling and FD."""
    from jacx.implicit import fixed_point, root

    out.write("Implicit layers: gradients through solvers by the implicit function theorem\n")
    with jax.enable_x64(True):
        n = 8
        k1, k2 = jax.random.split(jax.random.PRNGKey(0))
        params = {"W": 0.5 * jax.random.normal(k1, (n, n)) / math.sqrt(n), "b": jax.random.normal(k2, (n,))}
        x_in = jnp.linspace(-1.0, 1.0, n)

        def layer(z, p):
            return jnp.tanh(p["W"] @ z + p["b"] + x_in)

        def loss_implicit(p):
            return jnp.sum(fixed_point(layer, jnp.zeros(n), p, tol=1e-12) ** 2)

        def loss_unrolled(p):
            return jnp.sum(jax.lax.fori_loop(0, 200, lambda _, z: layer(z, p), jnp.zeros(n)) ** 2)

        g_imp = jax.grad(loss_implicit)(params)
        g_unr = jax.grad(loss_unrolled)(params)
        d_unr = max(float(jnp.abs(g_imp[k] - g_unr[k]).max()) for k in g_imp)
        h = 1e-6
        e = jnp.zeros(n).at[3].set(h)
        up, down = {**params, "b": params["b"] + e}, {**params, "b": params["b"] - e}
        fd = (loss_implicit(up) - loss_implicit(down)) / (2 * h)
        d_fd = abs(float(g_imp["b"][3] - fd))
        _say(out, "DEQ layer z = tanh(W z + b + x): grad vs unrolled 200x", f"max |diff| = {d_unr:.1e}", d_unr < 1e-8)
        _say(out, "DEQ grad wrt b[3] vs central finite difference", f"|diff| = {d_fd:.1e}", d_fd < 1e-7)

        A = jnp.array([[3.0, 1.0, 0.0], [1.0, 4.0, 1.0], [0.0, 1.0, 5.0]])

        def solve(th):
            return root(lambda x, t: A @ x + 0.1 * x**3 - t, jnp.zeros(3), th, tol=1e-12)

        th = jnp.array([1.0, 2.0, 3.0])
        x = solve(th)
        exact = jnp.linalg.inv(A + jnp.diag(0.3 * x**2))
        d_root = float(jnp.abs(jax.jacrev(solve)(th) - exact).max())
        _say(out, "root of A x + 0.1 x^3 = theta: dx/dtheta vs IFT by hand", f"max |diff| = {d_root:.1e}",
             d_root < 1e-10)
        d_mf = float(jnp.abs(jax.grad(lambda p: jnp.sum(fixed_point(layer, jnp.zeros(n), p, tol=1e-12,
                                                                         linear_solve="matrix-free") ** 2))(params)["W"]
                             - g_imp["W"]).max())
        _say(out, "matrix-free (GMRES on JVP/VJP) vs dense solve", f"max |diff| = {d_mf:.1e}", d_mf < 1e-8)
    return {"deq_vs_unrolled": d_unr, "deq_vs_fd": d_fd, "root_vs_exact": d_root, "matrix_free_vs_dense": d_mf}


def _blobs(key: jax.Array, n_per: int, dim: int, n_cls: int) -> tuple[jax.Array, jax.Array]:
    """Gaussian classes around fixed random centres (the same for every ``key``), points drawn from ``key``."""
    k_x = key
    centres = 1.6 * jax.random.normal(jax.random.PRNGKey(1234), (n_cls, dim))
    labels = jnp.repeat(jnp.arange(n_cls), n_per)
    xs = centres[labels] + jax.random.normal(k_x, (n_cls * n_per, dim))
    return xs, labels


def _train_classifier(x_tr, y_tr, lam: float, steps: int, sizes: list[int]):
    """Adam on cross-entropy (+ lam * Jacobian regulariser), full batch; returns the trained MLP parameters."""
    from jax.example_libraries import optimizers

    from jacx.backprop import init_mlp, mlp
    from jacx.robustness import jacobian_regularizer

    init, update, get = optimizers.adam(3e-3)

    def loss(params, key):
        logits = jax.vmap(lambda x: mlp(params, x))(x_tr)
        ce = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y_tr[:, None], axis=1))
        if lam == 0.0:
            return ce
        return ce + lam * jacobian_regularizer(lambda x: mlp(params, x), x_tr, key)

    @jax.jit
    def step(i, state, key):
        return update(i, jax.grad(loss)(get(state), key), state)

    state = init(init_mlp(jax.random.PRNGKey(0), sizes))
    for i in range(steps):
        state = step(i, state, jax.random.fold_in(jax.random.PRNGKey(2), i))
    return get(state)


def _attack_report(params, xs, ys, eps: float) -> tuple[float, float, float, float]:
    """Mean ||J||_F, mean ||J||_2, clean accuracy, accuracy after a step of length eps along the top singular vector."""
    from jacx.backprop import mlp
    from jacx.robustness import frobenius_norm, spectral_norm, top_singular_perturbation

    def model(x):
        return mlp(params, x)

    @jax.jit
    def evaluate(xs, ys):
        keys = jax.random.split(jax.random.PRNGKey(3), xs.shape[0])
        fro = jax.vmap(lambda x: frobenius_norm(model, x))(xs)
        spec = jax.vmap(lambda x, k: spectral_norm(model, x, k, 30).sigma)(xs, keys)
        dx = jax.vmap(lambda x, y, k: top_singular_perturbation(model, x, eps, k, label=y, n_iter=30))(xs, ys, keys)
        clean = jnp.mean(jnp.argmax(jax.vmap(model)(xs), axis=1) == ys)
        attacked = jnp.mean(jnp.argmax(jax.vmap(model)(xs + dx), axis=1) == ys)
        return jnp.mean(fro), jnp.mean(spec), clean, attacked

    fro, spec, clean, attacked = (float(v) for v in evaluate(xs, ys))
    return fro, spec, clean, attacked


def demo_robustness(out: TextIO = sys.stdout, outdir: str | None = None, steps: int = 400) -> dict:
    """Train an MLP with and without the Jacobian regulariser; compare norms and accuracy under attack."""
    out.write("Robustness: input-output Jacobian of a classifier, with and without Jacobian regularisation\n")
    dim, n_cls, eps, lam = 10, 3, 2.0, 0.05
    x_tr, y_tr = _blobs(jax.random.PRNGKey(1), 200, dim, n_cls)
    x_te, y_te = _blobs(jax.random.PRNGKey(2), 100, dim, n_cls)
    results = {}
    for key, weight in (("plain", 0.0), ("regularised", lam)):
        params = _train_classifier(x_tr, y_tr, weight, steps, [dim, 64, 64, n_cls])
        fro, spec, clean, attacked = _attack_report(params, x_te, y_te, eps)
        _say(out, f"{key}: mean ||J||_F, mean ||J||_2", f"{fro:.3f}, {spec:.3f}")
        _say(out, f"{key}: test accuracy clean / attacked", f"{clean:.3f} / {attacked:.3f}")
        results[key] = {"fro": fro, "spec": spec, "clean": clean, "attacked": attacked}
    _say(out, f"(lambda = {lam}; attack: length {eps} along the top singular vector)", "")
    better = results["regularised"]["attacked"] >= results["plain"]["attacked"]
    smaller = results["regularised"]["fro"] < results["plain"]["fro"]
    _say(out, "regulariser shrinks ||J||_F", str(smaller), smaller)
    _say(out, "regulariser keeps more accuracy under the attack", str(better), better)
    return results


def demo_backprop(out: TextIO = sys.stdout, outdir: str | None = None) -> dict:
    """The gradient as a product of layer Jacobians; the cost of materialising it versus VJPs."""
    from jacx.backprop import backprop_by_jacobians, init_mlp, input_output_jacobian_by_product, mlp, product_costs

    out.write("Backpropagation: the gradient is the product of layer Jacobians, taken from the output end\n")
    sizes = [256, 256, 256, 256, 1]
    params = init_mlp(jax.random.PRNGKey(0), sizes)
    x = jax.random.normal(jax.random.PRNGKey(1), (sizes[0],))
    gx, gW = backprop_by_jacobians(params, x, jnp.sum)
    ref_x = jax.grad(lambda x: jnp.sum(mlp(params, x)))(x)
    ref_p = jax.grad(lambda p: jnp.sum(mlp(p, x)))(params)
    d_x = float(jnp.abs(gx - ref_x).max())
    pairs = [(a, b) for pa, pb in zip(gW, ref_p, strict=True) for a, b in zip(pa, pb, strict=True)]
    d_p = max(float(jnp.abs(a - b).max()) for a, b in pairs)
    _say(out, "input gradient: Jacobian chain vs jax.grad", f"max |diff| = {d_x:.1e}", d_x < 1e-5)
    _say(out, "weight gradients: Jacobian chain vs jax.grad", f"max |diff| = {d_p:.1e}", d_p < 1e-5)
    full = input_output_jacobian_by_product(params, x)
    d_full = float(jnp.abs(full[0] - ref_x).max())
    _say(out, "materialised product J_3 J_2 J_1 J_0 (1 x 256) vs grad", f"max |diff| = {d_full:.1e}", d_full < 1e-5)
    costs = product_costs(sizes)
    ratio = costs["materialise_then_apply"] / costs["vjp_chain"]
    _say(out, "multiply-adds: VJP chain", f"{costs['vjp_chain']:,}")
    _say(out, "multiply-adds: materialise the layer product first", f"{costs['materialise_then_apply']:,} "
         f"({ratio:.0f}x)")
    _say(out, "timings: see benchmarks/bench_backprop.py", "")
    return {"grad_x_err": d_x, "grad_w_err": d_p, "cost_ratio": ratio}


DEMOS: dict[str, Callable[..., dict]] = {
    "robotics": demo_robotics,
    "vision": demo_vision,
    "implicit": demo_implicit,
    "robustness": demo_robustness,
    "backprop": demo_backprop,
}


# import name -> distribution name, where they differ, for the optional packages a demo may need
_DISTRIBUTIONS = {"skimage": "scikit-image"}


def _missing_module(err: BaseException) -> str | None:
    """The top-level name of the third-party module whose absence caused ``err``, or None (an ImportError from
    inside jacx itself is a bug, not a missing extra)."""
    seen: set[int] = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        name = getattr(cause, "name", None) if isinstance(cause, ModuleNotFoundError) else None
        if name:
            top = name.split(".")[0]
            return None if top == "jacx" else top
        cause = cause.__cause__ or cause.__context__
    return None


def install_hint(module: str) -> str:
    """How to install the optional package that provides ``module``: the smallest jacx extra (from the
    installed package's metadata, i.e. pyproject.toml's optional-dependencies) that lists it, else plain pip.

    >>> install_hint("skimage")
    'pip install "jacx[apps]"'
    >>> install_hint("no_such_module")
    'pip install no_such_module'
    """
    import importlib.metadata
    import re

    dist = _DISTRIBUTIONS.get(module, module)

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    try:
        requirements = importlib.metadata.requires("jacx") or []
    except importlib.metadata.PackageNotFoundError:
        requirements = []
    extras = []
    for req in requirements:
        name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
        extra = re.search(r"extra\s*==\s*[\"']([^\"']+)[\"']", req)
        if name and extra and norm(name.group(1)) == norm(dist):
            extras.append(extra.group(1))
    if extras:  # the extra with the fewest requirements: apps rather than test
        size = {e: sum(f'"{e}"' in r or f"'{e}'" in r for r in requirements) for e in extras}
        return f'pip install "jacx[{min(extras, key=lambda e: (size[e], e))}]"'
    return f"pip install {dist}"


class _CountingOut:
    """stdout for the demos, counting the checks they mark as failed."""

    def __init__(self, out: TextIO) -> None:
        self.out, self.failed = out, 0

    def write(self, text: str) -> int:
        self.failed += text.count("[FAILED]")
        return self.out.write(text)

    def flush(self) -> None:
        self.out.flush()


def cli_main(argv: list[str]) -> int:
    """``jacx demo NAME [-o DIR]``: run one application demo (or ``all``).

    Exit status 0 when every check of the demos that ran passed, 1 when a check failed, 2 on bad input (or, for a
    single demo, a missing optional package), 130 after Ctrl-C.  ``all`` skips demos whose optional package is
    not installed, and says which and how to install it.

    >>> cli_main(["nosuch"])
    2
    """
    with interrupt_guard("jacx demo"):
        return _run(argv)


def _parser() -> OneLineParser:
    parser = OneLineParser(prog="jacx demo", description="Run an application demo of jacx.")
    parser.add_argument("name", help=f"which demo: {', '.join(DEMOS)} or all")
    add_output_option(parser, default=None, old_spellings=("--out",),
                      help="folder for the demos' pictures (created if needed); without it no picture is written")
    return parser


def _run(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
        if args.name not in DEMOS and args.name != "all":
            raise CommandLineError(f"unknown demo {args.name!r}; expected one of {', '.join(DEMOS)} or all")
        if args.output:
            prepare_output_folder(args.output)
    except CommandLineError as exc:
        print(f"jacx demo: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    names = list(DEMOS) if args.name == "all" else [args.name]
    out = _CountingOut(sys.stdout)
    skipped: dict[str, str] = {}
    failed: list[str] = []
    for name in names:
        t0 = time.perf_counter()
        before = out.failed
        try:
            DEMOS[name](out, args.output)
        except ImportError as exc:
            module = _missing_module(exc)
            if module is None:
                raise
            why = f"the {name} demo needs {_DISTRIBUTIONS.get(module, module)}, which is not installed"
            if len(names) == 1:
                print(f"jacx demo: error: {why}; install it with: {install_hint(module)}", file=sys.stderr)
                return 2
            skipped[name] = module
            out.write(f"  skipped: {why}; install it with: {install_hint(module)}\n\n")
            continue
        if out.failed > before:
            failed.append(name)
        out.write(f"  ({name} demo took {time.perf_counter() - t0:.1f} s)\n\n")
    if len(names) > 1:
        ran = len(names) - len(skipped)
        verdict = f"checks FAILED in: {', '.join(failed)}" if failed else "all checks passed"
        out.write(f"ran {ran} of {len(names)} demos: {verdict}")
        if skipped:
            hints = sorted({install_hint(m) for m in skipped.values()})
            out.write(f"; skipped {', '.join(skipped)} (missing optional packages: {'; '.join(hints)})")
        out.write("\n")
    return 1 if failed else 0
