"""Narrow cuts in a traced program, and the cheapest order to accumulate its Jacobian through them.

Forward mode costs about ``n`` passes through ``F: R^n -> R^m``, reverse mode about ``m``. When every path from
the inputs to the outputs goes through a few intermediate values -- an autoencoder's bottleneck, a model whose
outputs depend on a small latent state -- the chain rule offers a cheaper order: with ``F = G o H`` and a middle of
width ``k``, ``J_F = J_G J_H`` costs ``k`` reverse passes through ``H``, ``k`` forward passes through ``G`` and one
``m x k x n`` product.

**Finding cuts.** The program is the jaxpr of ``f`` (:func:`jax.make_jaxpr`). Between two consecutive equations the
*live* values are those already computed and still read later (or returned). Every dependence of the outputs on the
inputs passes through the live values at any point of the program order, so the live values that depend on the
inputs form a vertex cut of the data-flow graph; its width is their total number of entries. One sweep along the
program gives the width at every point. Points narrower than ``min(n, m)`` are candidate cuts (the first point of
each run of equal widths, then the narrowest :data:`MAX_CUTS` distinct ones); values that do not depend on the
inputs (weights, constants) and integer values travel between pieces as plain values (their derivative is zero),
so they never widen a cut.

**The plan.** The chosen cuts split ``F`` into a chain of pieces ``F = P_p o ... o P_1``; piece ``k`` maps the
``c_{k-1}`` entries of one cut to the ``c_k`` of the next. An interval dynamic program (the matrix-chain recursion,
extended with passes) finds the cheapest way to get the Jacobian of every run of pieces ``i..j``:

* forward through the run (``c_{i-1}`` seeds) or reverse through it (``c_j`` seeds), as one block;
* split at ``s``: the Jacobians of ``i..s`` and ``s+1..j``, then one matrix product (``c_j x c_s x c_{i-1}``);
* split at ``s``: the Jacobian of ``i..s``, whose ``c_{i-1}`` columns are pushed forward through ``s+1..j``; or the
  Jacobian of ``s+1..j``, whose ``c_j`` rows are pulled back through ``i..s``.

Each piece ends up in exactly one block, with one mode. The cost of ``r`` seeds through a block is ``r`` times its
per-seed work (matrix-product flops and element-wise entries of the equations that depend on the inputs) plus a
fixed cost per operation, plus reading the seeds and writing the results; a product costs its flops and the entries
it writes. The seconds per flop, per entry and per entry moved are measured once per process and dtype on this
machine (:func:`cost_model`). Today's ``mode="auto"`` is the one-block plan with
``min(n, m)`` seeds, so the predicted saving is the ratio of the two costs.

Programs this does not understand (loops, conditionals, ``custom_vjp`` functions, side effects, mixed dtypes)
get no plan; :class:`Plan` says why, and the Jacobian is computed as without cuts.

>>> import jax.numpy as jnp
>>> A, B, C, D = jnp.ones((100, 100)), jnp.ones((4, 100)), jnp.ones((100, 4)), jnp.ones((100, 100))
>>> f = lambda x: D @ jnp.tanh(C @ jnp.tanh(B @ jnp.tanh(A @ x)))   # 100 -> 100 -> 4 -> 100 -> 100
>>> plan = analyse(f, [jnp.ones(100)], model=CostModel(1e-9, 1e-9, 0.0))
>>> plan.widths, plan.tree_text()
((100, 4, 100), '[2: forward] @ [1: reverse]')
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.extend import core as _core

__all__ = ["CostModel", "Plan", "analyse", "cost_model", "plan_chain", "MIN_SAVING", "MAX_CUTS"]

#: ``mode="auto"`` follows a plan only when it is predicted at least this many times cheaper than today's choice.
MIN_SAVING = 2.0
#: At most this many cuts are considered (the narrowest distinct ones); the planner is cubic in their number.
MAX_CUTS = 12

_REFUSED = {
    "while": "a while loop (lax.while_loop / fori_loop with traced bounds)",
    "cond": "a conditional (lax.cond / lax.switch)",
    "scan": "a loop (lax.scan / fori_loop)",
    "custom_vjp_call": "a jax.custom_vjp function (it has no forward mode)",
    "custom_vjp_call_jaxpr": "a jax.custom_vjp function (it has no forward mode)",
}
_MATMUL = ("dot_general", "conv_general_dilated")
# with one varying operand of the output's shape, these pass the tangent on as it is (no work per seed)
_PASS_THROUGH = ("add", "sub", "reshape", "squeeze", "expand_dims", "copy", "copy_p", "convert_element_type")


# --------------------------------------------------------------------------------------------------- cost model
@dataclasses.dataclass(frozen=True)
class CostModel:
    """Seconds per matrix-product flop, per element-wise entry, per operation (a fixed cost per block), and per
    entry moved through memory (reading seeds, writing large results, which do not fit in the caches).

    >>> CostModel(1e-10, 1e-9, 1e-6).seconds(mm=1e9, el=0.0, ops=0)
    0.1
    """

    per_flop: float
    per_entry: float
    per_op: float
    per_move: float = 0.0
    measured: bool = False

    def seconds(self, mm: float, el: float, ops: float, moved: float = 0.0) -> float:
        """Predicted seconds of ``mm`` product flops, ``el`` element-wise entries, ``ops`` operations and
        ``moved`` entries read or written."""
        return mm * self.per_flop + el * self.per_entry + ops * self.per_op + moved * self.per_move


_MODELS: dict[str, CostModel] = {}
PER_OP_SECONDS = 2e-6  # fixed cost of one operation in a compiled program (not measured: it only breaks ties)


def cost_model(dtype: Any) -> CostModel:
    """The cost model for ``dtype`` on the default device, measured once per process (about 0.1 s).

    The flop rate is that of a ``512 x 512`` by ``512 x 64`` product (the shape of a batch of seeds through a dense
    layer), the entry rate that of ``tanh`` and a multiply-add over 2^18 entries, the memory rate that of scaling
    a 2048 x 2048 array (read and written once); the best of 15 runs each (the fastest run is the least disturbed
    by other work on the machine).

    >>> cost_model("float32").per_flop > 0
    True
    """
    name = np.dtype(dtype).name
    model = _MODELS.get(name)
    if model is None:
        model = _MODELS[name] = _measure(name)
    return model


def _measure(name: str) -> CostModel:
    def best(compiled: Callable, args: tuple) -> float:
        compiled(*args).block_until_ready()
        times = []
        for _ in range(15):
            t0 = time.perf_counter()
            compiled(*args).block_until_ready()
            times.append(time.perf_counter() - t0)
        return min(times)

    # compiled executables called with NumPy arrays run at once, even while another function is being traced
    with jax.ensure_compile_time_eval():
        a = np.full((512, 512), 0.5, dtype=name)
        b = np.full((512, 64), 0.25, dtype=name)
        mm = jax.jit(lambda p, q: p @ q).lower(a, b).compile()
        v = np.linspace(-1.0, 1.0, 1 << 18, dtype=name)
        el = jax.jit(lambda u: jax.numpy.tanh(u) * u + 1.0).lower(v).compile()
        big = np.ones((1 << 11, 1 << 11), dtype=name)  # 4M entries: beyond the caches, like a Jacobian
        move = jax.jit(lambda u: u * 2.0).lower(big).compile()
        per_flop = best(mm, (a, b)) / (2.0 * 512 * 512 * 64)
        per_entry = best(el, (v,)) / (3.0 * v.size)
        per_move = best(move, (big,)) / (2.0 * big.size)
    return CostModel(per_flop, per_entry, PER_OP_SECONDS, per_move, measured=True)


# --------------------------------------------------------------------------------------------------- the planner
def plan_chain(widths: Sequence[int], block_cost: Callable[[int, int, int, bool], float],
               product_cost: Callable[[int, int, int], float]) -> tuple[float, tuple]:
    """The cheapest way to accumulate the Jacobian of a chain of pieces, and its cost.

    ``widths`` are ``c_0 .. c_p`` (piece ``k`` maps ``c_{k-1}`` entries to ``c_k``); ``block_cost(i, j, seeds,
    reverse)`` is the cost of ``seeds`` passes through pieces ``i..j`` (1-based, inclusive) and
    ``product_cost(a, b, c)`` that of an ``(a x b) @ (b x c)`` product. The plan is a tree of
    ``("forward", i, j)``, ``("reverse", i, j)``, ``("product", left, right)`` (``right @ left``),
    ``("push", left, (s, j))`` (the columns of ``left`` pushed forward through pieces ``s..j``) and
    ``("pull", (i, s), right)`` (the rows of ``right`` pulled back through pieces ``i..s``).

    A chain where the order of the products matters (``J_3 J_2 J_1`` with shapes 10x30, 30x5, 5x60) and passes
    too dear to use:

    >>> widths = [60, 5, 30, 10]
    >>> direct = lambda i, j, seeds, reverse: 0.0 if i == j and not reverse and seeds == widths[i - 1] else 1e9
    >>> cost, tree = plan_chain(widths, direct, lambda a, b, c: a * b * c)
    >>> cost, tree
    (4500.0, ('product', ('forward', 1, 1), ('product', ('forward', 2, 2), ('forward', 3, 3))))
    """
    p = len(widths) - 1
    if p < 1:
        raise ValueError(f"plan_chain needs at least one piece (two widths); got widths={list(widths)!r}.")
    best: dict[tuple[int, int], tuple[float, tuple]] = {}
    for length in range(1, p + 1):
        for i in range(1, p - length + 2):
            j = i + length - 1
            c_in, c_out = widths[i - 1], widths[j]
            options = [(block_cost(i, j, c_in, False), ("forward", i, j)),
                       (block_cost(i, j, c_out, True), ("reverse", i, j))]
            for s in range(i, j):
                (lc, lt), (rc, rt) = best[(i, s)], best[(s + 1, j)]
                options.append((lc + rc + product_cost(c_out, widths[s], c_in), ("product", lt, rt)))
                options.append((lc + block_cost(s + 1, j, c_in, False), ("push", lt, (s + 1, j))))
                options.append((rc + block_cost(i, s, c_out, True), ("pull", (i, s), rt)))
            chosen = options[0]
            for option in options[1:]:  # ties (rounding) go to the earlier, simpler option
                if option[0] < chosen[0] * (1 - 1e-9):
                    chosen = option
            best[(i, j)] = chosen
    cost, tree = best[(1, p)]
    return float(cost), tree


def piece_modes(tree: tuple, modes: dict[int, str] | None = None) -> dict[int, str]:
    """The mode (``"forward"`` or ``"reverse"``) of every piece in a plan tree.

    >>> piece_modes(("product", ("reverse", 1, 1), ("forward", 2, 3)))
    {1: 'reverse', 2: 'forward', 3: 'forward'}
    """
    modes = {} if modes is None else modes
    kind = tree[0]
    if kind in ("forward", "reverse"):
        modes.update({k: kind for k in range(tree[1], tree[2] + 1)})
    elif kind == "product":
        piece_modes(tree[1], modes)
        piece_modes(tree[2], modes)
    elif kind == "push":
        piece_modes(tree[1], modes)
        modes.update({k: "forward" for k in range(tree[2][0], tree[2][1] + 1)})
    else:  # pull
        modes.update({k: "reverse" for k in range(tree[1][0], tree[1][1] + 1)})
        piece_modes(tree[2], modes)
    return dict(sorted(modes.items()))


def _tree_text(tree: tuple, widths: Sequence[int]) -> str:
    kind = tree[0]
    if kind in ("forward", "reverse"):
        span = f"{tree[1]}" if tree[1] == tree[2] else f"{tree[1]}-{tree[2]}"
        return f"[{span}: {kind}]"
    if kind == "product":
        return f"{_tree_text(tree[2], widths)} @ {_tree_text(tree[1], widths)}"
    if kind == "push":
        (s, j) = tree[2]
        return f"push({_tree_text(tree[1], widths)} forward through {s}-{j})"
    (i, s) = tree[1]
    return f"pull({_tree_text(tree[2], widths)} back through {i}-{s})"


# --------------------------------------------------------------------------------------------------- the program
def _size(aval: Any) -> int:
    return int(math.prod(getattr(aval, "shape", ())))


def _sub_jaxprs(eqn: Any) -> list:
    found = []

    def add(value: Any) -> None:
        if isinstance(value, _core.ClosedJaxpr):
            found.append(value.jaxpr)
        elif isinstance(value, _core.Jaxpr):
            found.append(value)
        elif isinstance(value, (tuple, list)):
            for v in value:
                add(v)

    for value in eqn.params.values():
        add(value)
    return found


def why_not_understood(jaxpr: Any) -> str | None:
    """Why the planner cannot split this program (a loop, a conditional, a custom_vjp, an effect), or ``None``.

    >>> import jax, jax.numpy as jnp
    >>> why_not_understood(jax.make_jaxpr(jnp.sin)(1.0).jaxpr) is None
    True
    >>> why_not_understood(jax.make_jaxpr(lambda x: jax.lax.cond(x > 0, jnp.sin, jnp.cos, x))(1.0).jaxpr)
    'the program contains a conditional (lax.cond / lax.switch)'
    """
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name in _REFUSED:
            return f"the program contains {_REFUSED[name]}"
        if eqn.effects:
            return f"the program has side effects ({name}: {', '.join(map(str, eqn.effects))})"
        for sub in _sub_jaxprs(eqn):
            why = why_not_understood(sub)
            if why is not None:
                return why
    return None


def _same_shape(eqn: Any, v: Any) -> bool:
    return _size(v.aval) == sum(_size(o.aval) for o in eqn.outvars)


def _eqn_work(eqn: Any) -> tuple[float, float, int]:
    """(matrix-product flops, element-wise entries, operations) of one evaluation of ``eqn``."""
    name = eqn.primitive.name
    subs = _sub_jaxprs(eqn)
    if subs:
        mm = el = 0.0
        ops = 0
        for sub in subs[:1]:  # the called program (custom_jvp's rule jaxprs are not evaluated on top)
            for inner in sub.eqns:
                a, b, c = _eqn_work(inner)
                mm, el, ops = mm + a, el + b, ops + c
        return mm, el, ops
    out = sum(_size(v.aval) for v in eqn.outvars)
    if name == "dot_general":
        (contract, _), _ = eqn.params["dimension_numbers"]
        lhs = eqn.invars[0].aval.shape
        return 2.0 * out * math.prod(lhs[d] for d in contract), 0.0, 1
    if name == "conv_general_dilated":
        rhs = eqn.invars[1].aval.shape
        spec = eqn.params["dimension_numbers"]
        features = rhs[spec.rhs_spec[0]] if spec is not None else rhs[0]
        return 2.0 * out * math.prod(rhs) / max(features, 1), 0.0, 1
    ins = [_size(v.aval) for v in eqn.invars if not isinstance(v, _core.Literal)]
    return 0.0, float(max([out, *ins])), 1


@dataclasses.dataclass
class Plan:
    """What the planner found for one function at one input shape: the cuts, the pieces, their modes, the costs.

    ``str(plan)`` is the table :func:`jacx.explain` prints. ``reason`` is set when there is no plan (the program
    is not understood, or has no narrow cut); ``use`` says whether ``mode="auto"`` follows the plan.
    """

    n: int
    m: int
    dtype: str
    reason: str | None = None
    widths: tuple[int, ...] = ()
    bounds: tuple[int, ...] = ()  # equation index where each piece starts, and the end
    tree: tuple | None = None
    predicted: float = math.nan  # seconds, the plan
    forward: float = math.nan  # seconds, forward mode through the whole program
    reverse: float = math.nan  # seconds, reverse mode through the whole program
    pieces: list = dataclasses.field(default_factory=list)  # (first eqn, end eqn, summary, in, out, mode, seconds)
    measured: dict = dataclasses.field(default_factory=dict)  # name -> seconds, filled by explain(measure=True)
    model: CostModel | None = None
    # kept for running the plan (not shown)
    closed: Any = dataclasses.field(default=None, repr=False)
    cuts: tuple = dataclasses.field(default=(), repr=False)  # the live differentiable variables at each cut

    @property
    def today(self) -> float:
        """Predicted seconds of today's ``mode="auto"``: forward when ``n <= m``, else reverse."""
        return self.forward if self.n <= self.m else self.reverse

    @property
    def saving(self) -> float:
        """How many times cheaper than today's ``mode="auto"`` the plan is predicted to be (1.0 without a plan)."""
        if self.tree is None or not self.predicted > 0:
            return 1.0
        return self.today / self.predicted

    @property
    def use(self) -> bool:
        """Whether ``mode="auto"`` follows this plan: a plan exists and saves at least :data:`MIN_SAVING` times."""
        return self.tree is not None and len(self.widths) > 2 and self.saving >= MIN_SAVING

    def tree_text(self) -> str:
        """The plan as a formula over the pieces, e.g. ``[2: forward] @ [1: reverse]``."""
        return "-" if self.tree is None else _tree_text(self.tree, self.widths)

    def __str__(self) -> str:
        head = f"Jacobian plan for R^{self.n} -> R^{self.m} ({self.dtype})"
        if self.tree is None:
            return f"{head}: no plan, {self.reason}; jacx uses forward/reverse mode as without cuts."
        lines = [head, f"  cuts (entries): {' -> '.join(map(str, self.widths))}", "  pieces:"]
        for k, (a, b, summary, c_in, c_out, mode, secs) in enumerate(self.pieces, 1):
            lines.append(f"    {k}: equations {a}-{b - 1} ({summary}), {c_in} -> {c_out}, {mode}, "
                         f"{_fmt(secs)} predicted per seed")
        lines.append(f"  order: J = {self.tree_text()}")
        lines.append(f"  predicted: plan {_fmt(self.predicted)}, forward {_fmt(self.forward)}, reverse "
                     f"{_fmt(self.reverse)} (saving x{self.saving:.1f} over mode='auto' without cuts)")
        if self.measured:
            lines.append("  measured:  " + ", ".join(f"{k} {_fmt(v)}" for k, v in self.measured.items()))
        verdict = ("mode='auto' uses this plan" if self.use else
                   f"mode='auto' does not use it (predicted saving below x{MIN_SAVING:g}); mode='cut' forces it")
        if self.reason:
            verdict = f"mode='auto' does not use it: {self.reason}"
        lines.append(f"  {verdict}")
        return "\n".join(lines)

    __repr__ = __str__


def _fmt(seconds: float) -> str:
    if seconds != seconds:
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def _summary(eqns: Sequence[Any]) -> str:
    counts: dict[str, int] = {}
    for e in eqns:
        counts[e.primitive.name] = counts.get(e.primitive.name, 0) + 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{k}" + (f" x{v}" if v > 1 else "") for k, v in top[:4])
    return text + (", ..." if len(top) > 4 else "") if text else "no operations"


def analyse(fun: Callable, avals: Sequence[Any], *, force: bool = False, model: CostModel | None = None) -> Plan:
    """Trace ``fun(*leaves) -> output leaves`` at ``avals`` (arrays or ``ShapeDtypeStruct``) and plan its Jacobian.

    ``force`` plans even where no cut is narrower than ``min(n, m)`` (then the plan is one forward or reverse
    block). ``model`` replaces the measured :func:`cost_model` (tests, reproducible doctests).

    >>> import jax.numpy as jnp
    >>> analyse(lambda x: jnp.sin(x), [jnp.ones(3)]).reason
    'no cut narrower than min(n, m) = 3'
    """
    specs = [jax.ShapeDtypeStruct(np.shape(a), getattr(a, "dtype", None) or jax.numpy.result_type(a)) for a in avals]
    closed = jax.make_jaxpr(lambda *xs: jax.tree_util.tree_leaves(fun(*xs)))(*specs)
    jaxpr = closed.jaxpr
    n = sum(_size(v.aval) for v in jaxpr.invars)
    m = sum(_size(v.aval) for v in jaxpr.outvars)
    dtypes = {np.dtype(v.aval.dtype).name for v in (*jaxpr.invars, *jaxpr.outvars)}
    dtype = next(iter(dtypes)) if len(dtypes) == 1 else "mixed"
    plan = Plan(n=n, m=m, dtype=dtype, closed=closed)
    why = why_not_understood(jaxpr)
    if why is None and len(dtypes) != 1:
        why = f"its inputs and outputs have different dtypes ({', '.join(sorted(dtypes))})"
    if why is None and (n == 0 or m == 0):
        why = "it has no inputs or no outputs"
    if why is not None:
        plan.reason = why
        return plan
    eqns = jaxpr.eqns
    count = len(eqns)

    # which values depend on the inputs, and where each value is last read (count: returned)
    dep = set(jaxpr.invars)
    defined_at: dict = {v: -1 for v in (*jaxpr.invars, *jaxpr.constvars)}
    last_use: dict = {}
    for i, eqn in enumerate(eqns):
        reads = [v for v in eqn.invars if not isinstance(v, _core.Literal)]
        for v in reads:
            last_use[v] = i
        if any(v in dep for v in reads):
            dep.update(eqn.outvars)
        for v in eqn.outvars:
            defined_at[v] = i
    for v in jaxpr.outvars:
        if not isinstance(v, _core.Literal):
            last_use[v] = count

    # per-seed work of the equations that carry tangents, and the primal work of all, as prefix sums
    seed_work = np.zeros((count + 1, 3))
    primal_work = np.zeros(3)
    for i, eqn in enumerate(eqns):
        work = np.array(_eqn_work(eqn))
        primal_work += work
        reads = [v for v in eqn.invars if not isinstance(v, _core.Literal) and v in dep]
        if reads:
            if eqn.primitive.name in _MATMUL and len(reads) > 1:
                work[0] *= 2  # both factors vary: two products per seed
            elif eqn.primitive.name in _PASS_THROUGH and len(reads) == 1 and _same_shape(eqn, reads[0]):
                work[1] = 0.0  # adding a constant, a reshape: the tangent goes through unchanged
            seed_work[i + 1] = work
    seed_work = np.cumsum(seed_work, axis=0)

    # sweep along the program: the width of the live values that depend on the inputs, between equations
    def differentiable(v: Any) -> bool:
        return v in dep and np.dtype(v.aval.dtype).name == dtype

    def blocking(v: Any) -> bool:  # a live input-dependent value that cannot travel in a real vector of `dtype`
        return v in dep and not differentiable(v) and jax.numpy.issubdtype(v.aval.dtype, jax.numpy.inexact)

    ends: dict[int, list] = {}
    for v, last in last_use.items():
        ends.setdefault(last, []).append(v)
    live: set = set()
    width, bad = 0, 0
    widths_at: list[tuple[int, int]] = []  # (width, position) of the candidate cuts
    limit = min(n, m)
    previous = -1
    for t in range(1, count):
        new = list(jaxpr.invars) if t == 1 else []
        new += [v for v in eqns[t - 1].outvars if last_use.get(v, -1) >= t]
        for v in new:
            if v in live or last_use.get(v, -1) < t:
                continue
            live.add(v)
            width += _size(v.aval) if differentiable(v) else 0
            bad += blocking(v)
        for v in ends.get(t - 1, ()):
            if v in live:
                live.discard(v)
                width -= _size(v.aval) if differentiable(v) else 0
                bad -= blocking(v)
        # a run of equal widths (say a bias and an activation on the bottleneck) offers one cut: its first point
        if not bad and 0 < width < limit and width != previous:
            widths_at.append((width, t))
        previous = width if not bad else -1

    if not widths_at and not force:
        plan.reason = f"no cut narrower than min(n, m) = {limit}"
        return plan
    # the narrowest distinct cuts, in program order
    chosen: list[int] = []
    seen_sets: set = set()
    for w, t in sorted(widths_at)[: 4 * MAX_CUTS]:
        members = frozenset(v for v in _live_at(jaxpr, t, defined_at, last_use) if differentiable(v))
        if members in seen_sets:
            continue
        seen_sets.add(members)
        chosen.append(t)
        if len(chosen) == MAX_CUTS:
            break
    chosen.sort()
    bounds = (0, *chosen, count)
    cuts = [tuple(jaxpr.invars)]
    for t in chosen:
        cuts.append(tuple(sorted((v for v in _live_at(jaxpr, t, defined_at, last_use) if differentiable(v)),
                                 key=lambda v: (defined_at[v], str(v)))))
    widths = (n, *(sum(_size(v.aval) for v in c) for c in cuts[1:]), m)

    model = model or cost_model(dtype)

    def block_cost(i: int, j: int, seeds: int, reverse: bool) -> float:
        mm, el, ops = seed_work[bounds[j]] - seed_work[bounds[i - 1]]
        # each seed's work, plus reading the seeds and writing the results (one entry per seed and width); forward
        # results come out one column per seed and are transposed into place (written twice)
        moved = seeds * (widths[i - 1] + (1 if reverse else 2) * widths[j])
        return model.seconds(seeds * mm, seeds * el, ops, moved)

    def product_cost(a: int, b: int, c: int) -> float:
        return model.seconds(2.0 * a * b * c, 0.0, 1, a * c)

    cost, tree = plan_chain(widths, block_cost, product_cost)
    p = len(widths) - 1
    shared = model.seconds(*primal_work)  # one evaluation (the blocks' costs include writing their results)
    plan.widths, plan.bounds, plan.tree, plan.cuts, plan.model = widths, bounds, tree, tuple(cuts), model
    plan.predicted = cost + shared
    plan.forward = block_cost(1, p, n, False) + shared
    plan.reverse = block_cost(1, p, m, True) + shared
    modes = piece_modes(tree)
    for k in range(1, p + 1):
        a, b = bounds[k - 1], bounds[k]
        plan.pieces.append((a, b, _summary(eqns[a:b]), widths[k - 1], widths[k], modes[k], block_cost(k, k, 1, False)))
    if not widths_at:
        plan.reason = f"no cut narrower than min(n, m) = {limit}"
    return plan


def _live_at(jaxpr: Any, t: int, defined_at: dict, last_use: dict) -> list:
    """The values computed before equation ``t`` and read at or after it (or returned)."""
    return [v for v, d in defined_at.items() if d < t <= last_use.get(v, -1)]
