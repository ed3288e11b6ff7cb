"""Loading a user's detector without pickle: a factory plus weights, TorchScript, ``torch.export``, estimators, ONNX.

``SPEC`` is ``package.module:factory`` (called with ``model_args``; ``weights`` is a safetensors file or
a state dict read with ``torch.load(weights_only=True)``; a factory may also return a fitted estimator), or
a file: TorchScript, a ``torch.export`` program (``.pt2``), a scikit-learn / PyOD estimator saved with skops
(``.skops``), ONNX (an ONNX Runtime session; ``deepaid_sdk.explain.foreign_models``). A pickled
``nn.Module``, ``.joblib`` or ``.pkl`` runs arbitrary code when loaded, so it is only read with
``allow_pickle=True``. Every failure says what was tried and what to pass instead.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import pathlib
import re
import warnings
import zipfile
from typing import Any

import torch
from torch import nn

from deepaid_sdk.explain.foreign_models import (
    PICKLE_SUFFIXES,
    is_foreign_detector,
    load_onnx_session,
    load_pickled,
    load_skops,
)
from deepaid_sdk.explain.model_errors import ModelLoadError
from deepaid_sdk.optional import require

_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def _import_factory(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelLoadError(
            f"model: tried to import module {module_name!r} for {spec!r}: {exc}; pass "
            "--model package.module:factory with the package importable (installed or on "
            "PYTHONPATH), or a model file (TorchScript, .pt2, .onnx)"
        ) from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ModelLoadError(f"model: module {module_name!r} has no attribute {attr!r} (from {spec!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ModelLoadError(f"model: {spec!r} is a {type(obj).__name__}, not a callable that builds the model")
    return obj


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file or a ``torch.save``d state dict, read without unpickling code."""
    p = pathlib.Path(path)
    if not p.is_file():
        raise ModelLoadError(f"weights: no such file {str(p)!r}")
    if p.suffix == ".safetensors":
        st = require("safetensors.torch", "files")
        return dict(st.load_file(str(p)))
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelLoadError(
            f"weights: tried torch.load({str(p)!r}, weights_only=True): {_why(exc)}; pass a "
            "safetensors file or a state dict saved with torch.save(model.state_dict(), path)"
        ) from None
    if (
        isinstance(state, nn.Module)
        or not isinstance(state, dict)
        or not all(isinstance(v, torch.Tensor) for v in state.values())
    ):
        raise ModelLoadError(
            f"weights: {str(p)!r} holds a {type(state).__name__}, not a state dict of tensors; "
            "save it with torch.save(model.state_dict(), path)"
        )
    return state


def _why(exc: Exception) -> str:
    """A one-line reason for a failed load (torch's unpickling errors are long)."""
    import pickle

    if isinstance(exc, pickle.UnpicklingError):
        return "the file holds pickled objects, not only tensors (a whole pickled model?)"
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first[:200]}"


def _from_factory(spec: str, model_args: dict[str, Any] | None, weights: str | os.PathLike | None) -> Any:
    factory = _import_factory(spec)
    try:
        model = factory(**(model_args or {}))
    except TypeError as exc:
        raise ModelLoadError(
            f"model: calling {spec}(**{model_args or {}}) failed: {exc}; pass the factory's "
            "arguments as --model-args JSON"
        ) from None
    if is_foreign_detector(model):  # a fitted estimator or ONNX session: it carries its own parameters
        if weights is not None:
            raise ModelLoadError(
                f"weights: {spec} returned a fitted {type(model).__name__}, which has no torch "
                "weights; leave out --weights"
            )
        return model
    if not isinstance(model, nn.Module):
        raise ModelLoadError(
            f"model: {spec} returned a {type(model).__name__}, not an nn.Module, a fitted "
            "estimator (score_samples / decision_function) or an ONNX Runtime session"
        )
    if weights is None:
        raise ModelLoadError(
            f"weights: {spec} builds an untrained model; pass --weights FILE (safetensors or a state dict)"
        )
    state = load_state_dict(weights)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(
            f"weights: {str(weights)!r} does not fit {spec}: {str(exc).splitlines()[0]} (check --model-args)"
        ) from None
    return model


def _import_onnx2torch() -> Any:
    """onnx2torch, or an error that says why not: missing (the extra), or installed but broken (torchvision)."""
    try:
        return require("onnx2torch", "onnx2torch")
    except ImportError:
        raise
    except Exception as exc:  # onnx2torch imports torchvision, whose operators must match the installed torch
        raise ModelLoadError(
            f"model: onnx2torch is installed but failed to import ({type(exc).__name__}: {str(exc)[:200]}); it "
            f"imports torchvision, which must be the build made for torch {torch.__version__} (for a CPU torch, "
            "from https://download.pytorch.org/whl/cpu); or export the model with torch.export / TorchScript"
        ) from None


def _archive_names(path: pathlib.Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.namelist()
    except zipfile.BadZipFile:
        return []


def _from_file(path: pathlib.Path, allow_pickle: bool, onnx: str = "onnxruntime") -> Any:
    tried: list[str] = []
    suffix = path.suffix.lower()
    if suffix == ".skops":
        return load_skops(path, allow_pickle)
    if suffix in PICKLE_SUFFIXES:
        return load_pickled(path, allow_pickle)
    if suffix == ".onnx" and onnx == "onnxruntime":
        return load_onnx_session(path)
    if suffix == ".onnx":
        onnx2torch = _import_onnx2torch()
        try:
            return onnx2torch.convert(str(path))
        except Exception as exc:
            raise ModelLoadError(
                f"model: tried onnx2torch.convert({str(path)!r}): {type(exc).__name__}: {exc}"
            ) from None
    names = _archive_names(path)
    if path.suffix == ".pt2" or any(n.endswith("archive_format") or "/models/" in n for n in names):
        try:
            return torch.export.load(str(path)).module()
        except Exception as exc:
            tried.append(f"torch.export.load: {_why(exc)}")
    if any("/code/" in n or n.startswith("code/") for n in names) or not names:
        try:
            with warnings.catch_warnings():  # torch deprecates TorchScript; a user's file is still theirs to load
                warnings.simplefilter("ignore", DeprecationWarning)
                return torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:
            tried.append(f"torch.jit.load: {_why(exc)}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        tried.append(f"torch.load(weights_only=True): {_why(exc)}")
        if not allow_pickle:
            raise ModelLoadError(
                f"model: {str(path)!r} is not TorchScript, a torch.export program or a state dict (tried "
                f"{'; '.join(tried)}); if it is a pickled nn.Module, loading it runs code from the file: pass "
                "--allow-pickle only if you trust it, or save the model with torch.jit.save / torch.export.save, "
                "or pass --model package.module:factory --weights STATE_DICT"
            ) from None
        try:
            model = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc2:
            raise ModelLoadError(
                f"model: tried {'; '.join(tried)}; torch.load(weights_only=False): {type(exc2).__name__}: {exc2}"
            ) from None
        if not isinstance(model, nn.Module):
            raise ModelLoadError(
                f"model: the pickled {str(path)!r} holds a {type(model).__name__}, not an nn.Module"
            ) from None
        return model
    if isinstance(state, dict):
        raise ModelLoadError(
            f"model: {str(path)!r} is a state dict (weights only, no architecture); pass "
            "--model package.module:factory --weights " + str(path)
        )
    if isinstance(state, nn.Module):  # pragma: no cover - weights_only never builds modules
        return state
    raise ModelLoadError(f"model: {str(path)!r} holds a {type(state).__name__}; expected a model")


#: How an ``.onnx`` file is run: ONNX Runtime (default) or converted to a torch module by onnx2torch.
ONNX_RUNNERS = ("onnxruntime", "onnx2torch")


def load_model(
    spec: Any,
    *,
    model_args: dict[str, Any] | None = None,
    weights: str | os.PathLike | None = None,
    allow_pickle: bool = False,
    device: Any = "cpu",
    onnx: str = "onnxruntime",
) -> Any:
    """The detector named by ``spec``, on ``device``, in eval mode.

    An ``nn.Module``, a fitted estimator or an ONNX Runtime session passes through; an ``.onnx`` file is run by
    ``onnx`` (``onnxruntime``, or ``onnx2torch`` for a torch module and the gradient search).
    """
    if onnx not in ONNX_RUNNERS:
        raise ValueError(f"onnx: expected one of {ONNX_RUNNERS}; got {onnx!r}")
    is_factory = isinstance(spec, str) and bool(_FACTORY.match(spec)) and not pathlib.Path(spec).is_file()
    if model_args and not is_factory:
        raise ModelLoadError("model_args: only apply to --model package.module:factory")
    if is_foreign_detector(spec):
        if weights is not None:
            raise ModelLoadError(f"weights: a fitted {type(spec).__name__} has no torch weights; leave out weights")
        return spec
    if isinstance(spec, nn.Module):
        model = spec
    elif not isinstance(spec, (str, os.PathLike)):
        raise TypeError(
            f"model: expected an nn.Module, a fitted estimator (score_samples / decision_function), an "
            f"ONNX Runtime session, a model file or package.module:factory; got {type(spec).__name__}"
        )
    else:
        text = str(spec)
        path = pathlib.Path(text)
        if path.is_file():
            if weights is not None:
                raise ModelLoadError(
                    f"weights: {text!r} is a whole model file; --weights goes with --model package.module:factory"
                )
            model = _from_file(path, allow_pickle, onnx)
            if is_foreign_detector(model):
                return model
        elif is_factory:
            model = _from_factory(text, model_args, weights)
            if is_foreign_detector(model):
                return model
        else:
            raise ModelLoadError(
                f"model: {text!r} is neither a file nor package.module:factory; pass a TorchScript, "
                ".pt2 (torch.export), .skops or .onnx file, or a factory with --weights"
            )
    model = model.to(device)
    try:
        model.eval()
    except NotImplementedError:  # exported programs fix their mode at export time
        pass
    return model


def model_fingerprint(spec: Any, weights: str | os.PathLike | None) -> dict[str, Any]:
    """What identifies the model for a resume check: the spec and hashes of the files it reads."""
    from deepaid_sdk.explain.sources import fingerprint

    if weights is not None and not pathlib.Path(weights).is_file():
        raise ModelLoadError(f"weights: no such file {str(weights)!r}")
    if is_foreign_detector(spec):  # a fitted object in memory: its pickled bytes identify it (dumped, never loaded)
        import pickle

        return {
            "estimator": type(spec).__name__,
            "state_blake2b": hashlib.blake2b(pickle.dumps(spec), digest_size=16).hexdigest(),
        }
    if isinstance(spec, nn.Module):
        digest = hashlib.blake2b(digest_size=16)
        for name, tensor in sorted(spec.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return {"module": type(spec).__name__, "state_blake2b": digest.hexdigest()}
    out: dict[str, Any] = {"spec": str(spec)}
    if pathlib.Path(str(spec)).is_file():
        out["file"] = fingerprint(spec)
    if weights is not None:
        out["weights"] = fingerprint(weights)
    return out
