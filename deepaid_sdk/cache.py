"""The ``.deepaid-cache`` folder: trained weights of demos and benchmarks, reused across runs.

One implementation for every plugin: a key from the training data's bytes, the training options and
the torch version; files written atomically (temporary file, then rename) so that two processes
never read a half-written file; a file that cannot be loaded is retrained and overwritten. Weights
are loaded by the caller's ``load`` (state dicts with ``weights_only=True``: no pickle).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import pickle
from typing import Any, Callable, TypeVar

import numpy as np
import torch

T = TypeVar("T")

#: Where trained synthetic detectors are cached, relative to the current directory.
CACHE_DIR = pathlib.Path(".deepaid-cache")


def cache_key(*arrays: Any, options: dict[str, Any] | None = None) -> str:
    """A 16-hex-digit key over the arrays' bytes and shapes, ``options`` (JSON) and the torch version."""
    digest = hashlib.sha256()
    shapes = []
    for a in arrays:
        arr = np.ascontiguousarray(np.asarray(a))
        digest.update(arr.tobytes())
        shapes.append([str(arr.dtype), list(arr.shape)])
    digest.update(
        json.dumps(
            {"options": options or {}, "shapes": shapes, "torch": torch.__version__}, sort_keys=True, default=str
        ).encode()
    )
    return digest.hexdigest()[:16]


def cache_path(name: str, key: str, folder: pathlib.Path | str | None = None) -> pathlib.Path:
    """``folder / f"{name}-{key}.pt"``, ``folder`` defaulting to ``.deepaid-cache``."""
    return pathlib.Path(folder if folder is not None else CACHE_DIR) / f"{name}-{key}.pt"


def cached(
    path: pathlib.Path | None,
    train: Callable[[], T],
    save: Callable[[T, pathlib.Path], None],
    load: Callable[[pathlib.Path], T],
) -> tuple[T, bool]:
    """``load(path)`` when the file exists and loads, else ``train()`` then ``save`` it atomically.

    Returns the object and whether it came from the cache. ``path=None`` disables the cache.
    """
    if path is not None and path.is_file():
        try:
            return load(path), True
        except (RuntimeError, OSError, ValueError, EOFError, KeyError, pickle.UnpicklingError):
            pass  # a stale or partial file: retrain and overwrite
    obj = train()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        save(obj, tmp)
        tmp.replace(path)
    return obj, False


def save_state(module: torch.nn.Module, path: pathlib.Path) -> None:
    """Save a module's state dict (CPU tensors only: loadable with ``weights_only=True``)."""
    torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, path)


def load_state(module: torch.nn.Module, path: pathlib.Path, device: Any = "cpu") -> torch.nn.Module:
    """Load a state dict saved by ``save_state`` into ``module`` (no pickle); returns it on ``device``, in eval mode."""
    module.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return module.to(device).eval()
