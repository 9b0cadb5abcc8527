"""Seeds derived from integers, so that every random choice can be replayed from a few numbers.

A training sample, a synthesised image or a training step each get their own generator seeded
by ``mix_seed(run_seed, index, ...)``; nothing random is carried from one to the next, which is
what makes resume and regeneration exact.
"""

from __future__ import annotations

import hashlib

import torch


def mix_seed(*parts: int) -> int:
    """A 63-bit seed from integers (stable across processes, unlike Python's ``hash``)."""
    digest = hashlib.blake2b(",".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def generator(*parts: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``mix_seed(*parts)``."""
    return torch.Generator().manual_seed(mix_seed(*parts))


def randint(g: torch.Generator, lo: int, hi: int) -> int:
    """An integer in [lo, hi], both included, drawn from `g` (one draw)."""
    return lo + int(torch.randint(hi - lo + 1, (1,), generator=g))


__all__ = ["generator", "mix_seed", "randint"]
