"""Normalizing flows: jacx.flows against distrax and flowjax on the same architectures, float32, CPU.

Architectures (each library's own building blocks, sized alike):
  realnvp  4 affine couplings on R^64 (halves alternate), conditioners with two hidden layers of 64, ReLU
           (jacx AffineCoupling; distrax MaskedCoupling + ScalarAffine; flowjax Coupling + Affine with Flip between layers)
  maf      4 masked autoregressive layers on R^16, MADE with two hidden layers of 64, tanh / flowjax's default
           (jacx MaskedAutoregressive; flowjax MaskedAutoregressive + Affine; distrax has no MADE)
  planar   8 planar layers on R^16 (jacx Planar; flowjax Planar; distrax has none). jacx's Radial has no peer.

Operations, at batch 1 and batch 1024 (jitted, vmapped over the batch where a library acts on one event):
  forward    the bijector's forward-and-log-det (flowjax: transform_and_log_det)
  inverse    the bijector's inverse-and-log-det
  log_prob   the flow's log-density of data (each library's own direction: jacx evaluates F(x) with F data -> latent;
             distrax and flowjax evaluate the inverse of their latent -> data map, built so that this is the fast way)
  sample     draws from the flow
  train      one maximum-likelihood Adam step (optax) on a batch of 256, as steps per second (realnvp)

Timing: contestants interleaved in a shuffled order in every round (``_common.time_interleaved``), medians over
rounds. The load average is recorded at the start and the end; when it exceeds the usable cores the tables are
written but no verdict is drawn (other work was running: ratios between contestants are not trustworthy).

Run:  python benchmarks/bench_flows.py [--quick] [--arch realnvp|maf|planar] [--out docs/benchmarks-flows.md]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import jacx.flows as jf  # noqa: E402
from bench_logdet import write_report  # noqa: E402

READING = """Times are medians over interleaved rounds on the CPU, float32, after compilation; forward, inverse and
log_prob per batch, train as one Adam step on 256 events (steps per second in the operation column). The targets
ask jacx's time to be at most each peer's (ratio <= 1.0); differences within about 15% are ties on a shared
machine."""

TARGET_RATIO = 1.0  # jacx time / peer time, at most


def _small(tree, key, scale):
    """Random (not identity) parameters of the same shapes, so every library computes something nontrivial."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    keys = jax.random.split(key, len(leaves))
    new = [scale * jax.random.normal(k, jnp.shape(a), jnp.result_type(a)) / np.sqrt(max(np.shape(a)[-1:] or [1]))
           if jnp.issubdtype(jnp.result_type(a), jnp.floating) else a for k, a in zip(keys, leaves)]
    return jax.tree_util.tree_unflatten(treedef, new)


# ------------------------------------------------------------------------------------------------ contestants
def _jacx_ops(bij, n: int) -> dict[str, Callable]:
    flow = jf.Flow(bij, jf.StandardNormal((n,)))
    return {
        "forward": jax.vmap(bij.forward_and_log_det),
        "inverse": jax.vmap(bij.inverse_and_log_det),
        "log_prob": flow.log_prob,
        "sample": lambda key, k: flow.sample(key, k),
    }


def realnvp(n=64, layers=4, hidden=64):
    keys = jax.random.split(jax.random.key(1), layers)
    half = n // 2
    masks = [tuple(j < half if i % 2 == 0 else j >= half for j in range(n)) for i in range(layers)]
    out = {}
    jx = jf.Chain(tuple(
        _small(jf.AffineCoupling.init(k, m, (hidden, hidden), activation="relu", zero_last=False), k, 0.3)
        for k, m in zip(keys, masks)))
    out["jacx.flows"] = _jacx_ops(jx, n)
    notes = []
    try:
        import distrax

        def conditioner(w):
            def cond(xm):
                h = jax.nn.relu(xm @ w[0])
                h = jax.nn.relu(h @ w[1])
                return h @ w[2]
            return cond

        def affine(params):
            shift, log_scale = jnp.split(params, 2, axis=-1)
            return distrax.ScalarAffine(shift=shift, log_scale=3.0 * jnp.tanh(log_scale / 3.0))

        def weights(k):
            k1, k2, k3 = jax.random.split(k, 3)
            return (jax.random.normal(k1, (n, hidden)) / np.sqrt(n),
                    jax.random.normal(k2, (hidden, hidden)) / np.sqrt(hidden),
                    0.1 * jax.random.normal(k3, (hidden, 2 * n)) / np.sqrt(hidden))

        def build(params):
            return distrax.Chain([distrax.MaskedCoupling(mask=jnp.asarray(m), conditioner=conditioner(w),
                                                         bijector=affine) for w, m in zip(params, masks)])

        params = [weights(k) for k in keys]
        dx = build(params)
        base = distrax.MultivariateNormalDiag(jnp.zeros(n), jnp.ones(n))
        dist = distrax.Transformed(base, dx)
        out["distrax"] = {
            "forward": dx.forward_and_log_det, "inverse": dx.inverse_and_log_det, "log_prob": dist.log_prob,
            "sample": lambda key, k: dist.sample(seed=key, sample_shape=(k,)),
            "train": (params, lambda p, x: -jnp.mean(distrax.Transformed(base, build(p)).log_prob(x))),
        }
        notes.append(f"distrax {C._version('distrax')}: MaskedCoupling + ScalarAffine; its conditioner sees all n "
                     "entries (masked) and outputs 2n parameters, as its API requires")
    except Exception as err:  # noqa: BLE001 - a peer that does not work here is reported, not fatal
        notes.append(f"distrax unavailable: {type(err).__name__}: {err}")
    try:
        import flowjax.bijections as fb
        import flowjax.distributions as fd

        layers_fj = []
        for i, k in enumerate(keys):
            if i:  # alternate the transformed half, as the jacx and distrax chains do
                layers_fj.append(fb.Flip((n,)))
            layers_fj.append(fb.Coupling(k, transformer=fb.Affine(), untransformed_dim=half, dim=n, nn_width=hidden,
                                         nn_depth=2))
        out["flowjax"] = _flowjax_ops(fb.Chain(layers_fj), fb, fd, n, invert=True)
        notes.append(f"flowjax {C._version('flowjax')}: Coupling + Affine (its MLP, ReLU) with Flip between layers "
                     "(so the transformed half alternates, as in the other two); its density direction is the "
                     "inverse of the chain, as in its coupling_flow")
    except Exception as err:  # noqa: BLE001
        notes.append(f"flowjax unavailable: {type(err).__name__}: {err}")
    out["jacx.flows"]["train"] = (jx, lambda f, x: -jnp.mean(jf.Flow(f, jf.StandardNormal((n,))).log_prob(x)))
    return n, out, notes


def _flowjax_ops(bij, fb, fd, n, invert):
    import equinox as eqx

    dist = fd.Transformed(fd.StandardNormal((n,)), fb.Invert(bij) if invert else bij)
    params, static = eqx.partition(dist, eqx.is_inexact_array)
    return {
        "forward": jax.vmap(bij.transform_and_log_det), "inverse": jax.vmap(bij.inverse_and_log_det),
        "log_prob": lambda x: dist.log_prob(x), "sample": lambda key, k: dist.sample(key, (k,)),
        "train": (params, lambda p, x: -jnp.mean(eqx.combine(p, static).log_prob(x))),
    }


def maf(n=16, layers=4, hidden=64):
    keys = jax.random.split(jax.random.key(2), layers)
    parts = []
    for i, k in enumerate(keys):
        if i:
            parts.append(jf.Permute(tuple(range(n - 1, -1, -1))))
        parts.append(_small(jf.MaskedAutoregressive.init(k, n, (hidden, hidden), zero_last=False), k, 0.3))
    out = {"jacx.flows": _jacx_ops(jf.Chain(tuple(parts)), n)}
    notes = ["distrax has no masked autoregressive bijector"]
    try:
        import flowjax.bijections as fb
        import flowjax.distributions as fd

        fl = []
        for i, k in enumerate(keys):
            if i:
                fl.append(fb.Flip((n,)))
            fl.append(fb.MaskedAutoregressive(k, transformer=fb.Affine(), dim=n, nn_width=hidden, nn_depth=2))
        out["flowjax"] = _flowjax_ops(fb.Chain(fl), fb, fd, n, invert=True)
        notes.append(f"flowjax {C._version('flowjax')}: MaskedAutoregressive + Affine with Flip between layers; "
                     "forward = its one-pass transform, inverse = its n-step scan, density through the fast pass")
    except Exception as err:  # noqa: BLE001
        notes.append(f"flowjax unavailable: {type(err).__name__}: {err}")
    return n, out, notes


def planar(n=16, layers=8):
    keys = jax.random.split(jax.random.key(3), layers)
    out = {"jacx.flows": _jacx_ops(jf.Chain(tuple(jf.Planar.init(k, n) for k in keys)), n)}
    notes = ["distrax has no planar bijector; no peer has a radial one"]
    try:
        import flowjax.bijections as fb
        import flowjax.distributions as fd

        fj = fb.Chain([fb.Planar(k, dim=n) for k in keys])
        ops = _flowjax_ops(fj, fb, fd, n, invert=True)
        out["flowjax"] = ops
        notes.append(f"flowjax {C._version('flowjax')}: Planar (tanh); density through its forward pass")
    except Exception as err:  # noqa: BLE001
        notes.append(f"flowjax unavailable: {type(err).__name__}: {err}")
    return n, out, notes


ARCHS = {"realnvp": realnvp, "maf": maf, "planar": planar}


# ------------------------------------------------------------------------------------------------ timing
def _callable(op: str, fn, n: int, batch: int):
    x = jax.random.normal(jax.random.key(0), (batch, n), jnp.float32)
    if op == "sample":
        f, args = jax.jit(fn, static_argnums=1), (jax.random.key(4), batch)
    else:
        f, args = jax.jit(fn), (x,)
    try:  # an op a library does not implement (flowjax's tanh planar has no inverse) is left out, not fatal
        jax.block_until_ready(f(*args))
    except NotImplementedError:
        return None
    return lambda: jax.block_until_ready(f(*args))


def _train_step(n, params, loss):
    import optax

    opt = optax.adam(1e-3)
    state = opt.init(params)

    @jax.jit
    def step(p, s, x):
        value, grads = jax.value_and_grad(loss)(p, x)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, value

    x = jax.random.normal(jax.random.key(5), (256, n))
    box = [params, state]

    def run():
        box[0], box[1], value = step(box[0], box[1], x)
        jax.block_until_ready(value)
    return run


def bench_arch(name, repeats, target_s):
    n, libs, notes = ARCHS[name]()
    rows, verdicts = [], []
    ops = ["forward", "inverse", "log_prob", "sample"]
    for op in ops + ["train"]:
        for batch in ([1, 1024] if op != "train" else [256]):
            contestants = {}
            for lib, table in libs.items():
                if op not in table:
                    continue
                if op == "train":
                    if name != "realnvp":
                        continue
                    fn = _train_step(n, *table["train"])
                else:
                    fn = _callable(op, table[op], n, batch)
                if fn is not None:
                    contestants[lib] = fn
            if "jacx.flows" not in contestants or len(contestants) < 1:
                continue
            t = C.time_interleaved(contestants, repeats=repeats, target_s=target_s)
            base = C.median(t["jacx.flows"])
            cells = []
            for lib in libs:
                if lib in t:
                    v = C.median(t[lib])
                    cells.append(f"{lib} {C.fmt_time(v)} (±{C.spread(t[lib]):.0%})")
                    if lib != "jacx.flows":
                        ratio = base / v
                        verdicts.append([f"{name} {op} batch {batch}: jacx time / {lib} time", f"{ratio:.2f}",
                                         ratio <= TARGET_RATIO, True])
            label = f"{op} (steps/s: {1 / base:.0f})" if op == "train" else op
            rows.append([label, str(batch), "; ".join(cells)])
            print(f"{name} {op} batch {batch}: " + "; ".join(cells), flush=True)
    return rows, verdicts, notes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds (smoke run)")
    ap.add_argument("--arch", choices=sorted(ARCHS), action="append")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--out", default=None, help="Markdown output (default: docs/benchmarks-flows.md)")
    args = ap.parse_args(argv)
    archs = args.arch or list(ARCHS)
    repeats = args.repeats or (5 if args.quick else 15)
    target_s = 0.005 if args.quick else 0.03
    start = C.load_average()
    info = C.machine_info(["jax", "jaxlib", "distrax", "flowjax", "optax"], {"load average (start)": start})
    parts, verdicts = [], []
    for arch in archs:
        rows, v, notes = bench_arch(arch, repeats, target_s)
        parts.append(f"## {arch}\n\n" + C.markdown_table(["operation", "batch", "median per call (spread)"], rows)
                     + "\n\n" + "\n".join(f"* {s}" for s in notes))
        verdicts += v
    out = Path(args.out) if args.out else C.REPO_ROOT / "docs" / "benchmarks-flows.md"
    write_report(out, "Benchmarks: normalizing flows against distrax and flowjax", info, start, args.quick, READING,
                 parts, verdicts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
