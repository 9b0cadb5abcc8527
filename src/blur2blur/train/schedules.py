"""Learning-rate schedules as pure functions of the step: ``factor = schedule(step)``.

The loop sets ``lr = base_lr * factor`` before every step. Because the factor depends on the
step alone, resuming a run needs no scheduler state, and a schedule can be plotted or tested
without an optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

Schedule = Callable[[int], float]


def constant() -> Schedule:
    """Factor 1 at every step."""
    return lambda step: 1.0


def constant_then_linear(hold: int, decay: int) -> Schedule:
    """1 for `hold` steps, then linearly down to 0 over `decay` steps (the pix2pix/CycleGAN schedule).

    The Blur2Blur paper trains the translator 500K steps at a constant rate, then 500K more
    with linear decay.
    """
    if hold < 0 or decay < 0:
        raise ValueError(f"hold and decay must be >= 0, got {hold}, {decay}")

    def factor(step: int) -> float:
        if step < hold or decay == 0:
            return 1.0
        return max(0.0, 1.0 - (step - hold) / decay)

    return factor


def cosine_restarts(periods: Sequence[int], *, eta_min_ratio: float = 0.0,
                    restart_weights: Sequence[float] | None = None) -> Schedule:
    """Cosine annealing with warm restarts: cycle i lasts ``periods[i]`` steps and starts at
    ``restart_weights[i]`` (default 1), each falling to ``eta_min_ratio`` (as a fraction of the base LR).

    After the last cycle the factor stays at ``eta_min_ratio``. The kernel extractor's recipe
    (Tran et al. 2021) is periods [50K, 100K, 150K, 150K, 150K] with restarts of weight 1.
    """
    periods = [int(p) for p in periods]
    if not periods or any(p <= 0 for p in periods):
        raise ValueError(f"periods must be positive, got {periods}")
    weights = [1.0] * len(periods) if restart_weights is None else [float(w) for w in restart_weights]
    if len(weights) != len(periods):
        raise ValueError(f"{len(weights)} restart weights for {len(periods)} periods")
    starts = [0]
    for p in periods[:-1]:
        starts.append(starts[-1] + p)

    def factor(step: int) -> float:
        for start, period, weight in zip(reversed(starts), reversed(periods), reversed(weights)):
            if step >= start:
                t = min(step - start, period) / period
                return eta_min_ratio + (weight - eta_min_ratio) * 0.5 * (1 + math.cos(math.pi * t))
        return 1.0

    return factor


__all__ = ["Schedule", "constant", "constant_then_linear", "cosine_restarts"]
