"""Jacobians in words: what a small change of each variable does, and what the determinant says about volume.

Shared by the command line, the determinant functions and the browser explorer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["interpret", "verdict", "volume_verdict"]

_WORDS = {1: ("length", "lengths"), 2: ("area", "areas"), 3: ("volume", "volumes")}


def interpret(value: Sequence[Sequence[float]], variables: Sequence[str], digits: int = 4) -> list[str]:
    """One sentence per variable saying how a small change of it moves each output.

    >>> interpret([[0.0, 1.0], [1.0, 0.0]], ["x", "y"])[0]
    'increasing x by a small dx does not affect f1 and changes f2 by 1 dx'
    """
    from .symbolic import format_number

    sentences = []
    for j, var in enumerate(variables):
        d = f"d{var}"
        lead = f"increasing {var} by a small {d}" if j == 0 else f"changing {var} by {d}"
        parts = []
        for i, row in enumerate(value):
            entry = float(row[j])
            if entry == 0:
                parts.append(f"does not affect f{i + 1}")
            else:
                parts.append(f"{'changes ' if not parts or parts[-1].startswith('does') else ''}f{i + 1} by "
                             f"{format_number(entry, digits)} {d}")
        if all(p.startswith("does") for p in parts):
            sentences.append(f"{lead} does not affect any output (to first order)")
            continue
        sentences.append(f"{lead} " + " and ".join(parts))
    return sentences


def verdict(det_value: float, sign: int, factor: float, n: int, singular: bool, tol: float) -> tuple[Any, Any, str]:
    """``(kind, orientation, sentence)`` for a determinant: expands, contracts, preserves or singular.

    >>> verdict(4.0, 1, 4.0, 2, False, 1e-12)[2]
    'expands area: a small region grows by a factor of 4; orientation kept (det J = 4)'
    """
    what = _WORDS.get(n, ("volume", "volumes"))[0]
    if singular:
        return (
            "singular",
            None,
            f"singular: det J = {det_value:.4g}, so the map flattens a small region to zero {what}; it is not locally "
            "invertible here",
        )
    orientation = "kept" if sign > 0 else "reversed"
    if abs(factor - 1.0) <= tol:
        kind, text = "preserves", f"preserves {what}"
    elif factor > 1.0:
        kind, text = "expands", f"expands {what}: a small region grows by a factor of {factor:.4g}"
    else:
        kind, text = "contracts", f"contracts {what}: a small region shrinks to {factor:.4g} times its size"
    return kind, orientation, f"{text}; orientation {orientation} (det J = {det_value:.4g})"


def volume_verdict(J: np.ndarray) -> tuple[float, str]:
    """``det J`` and the volume verdict in words, both computed from the one matrix ``J`` that is printed.

    >>> volume_verdict(np.array([[0.0, 1.0], [1.0, 0.0]]))
    (-1.0, 'preserves area; orientation reversed (det J = -1)')
    """
    n = J.shape[0]
    eps = float(np.finfo(np.float64).eps)
    sv = np.linalg.svd(J, compute_uv=False)
    singular = bool(sv[0] == 0.0 or sv[-1] <= sv[0] * n * eps * 10)
    sign, logabs = np.linalg.slogdet(J)
    det = 0.0 if sign == 0 else float(sign * math.exp(min(float(logabs), 709.0)))
    if sign != 0 and logabs > 709.0:
        det = math.copysign(math.inf, float(sign))
    return det, verdict(det, int(sign), abs(det), n, singular, 100 * n * eps)[2]
