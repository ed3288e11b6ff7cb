"""Detector files that are not torch: scikit-learn / PyOD estimators (skops, joblib) and ONNX Runtime sessions.

* ``.skops`` is read with ``skops.io.load``: no code runs except the types it is told to trust. Types from
  scikit-learn, PyOD, numpy and scipy are trusted; any other type in the file is refused by name unless
  ``allow_pickle`` (the user vouches for the file).
* ``.onnx`` becomes an ONNX Runtime ``InferenceSession`` (skl2onnx output included), scored through the
  gradient-free search. onnx2torch (a torch module, so the gradient search) is an explicit choice:
  ``load_model(path, onnx="onnx2torch")``: it needs a torchvision built for the installed torch.
* ``.joblib`` / ``.pkl`` / ``.pickle`` run code from the file when loaded: only with ``allow_pickle``.
"""

from __future__ import annotations

import pathlib
from typing import Any

from deepaid_sdk.explain.model_errors import ModelLoadError
from deepaid_sdk.optional import require

#: Suffixes of pickled files (joblib or pickle): loaded only with ``allow_pickle``.
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
#: Module prefixes whose types a ``.skops`` file may hold without ``allow_pickle``.
TRUSTED_PREFIXES = ("sklearn.", "pyod.", "numpy.", "scipy.", "builtins.", "collections.")


def load_skops(path: pathlib.Path, allow_pickle: bool) -> Any:
    """A fitted estimator from a skops file, trusting only scikit-learn / PyOD / numpy / scipy types."""
    sio = require("skops.io", "sklearn")
    try:
        untrusted = sio.get_untrusted_types(file=str(path))
    except Exception as exc:
        raise ModelLoadError(
            f"model: {str(path)!r} is not a skops file ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    refused = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if refused and not allow_pickle:
        raise ModelLoadError(
            f"model: {str(path)!r} holds types that are not scikit-learn, PyOD, numpy or scipy: "
            f"{refused[:8]}; loading them runs their code: pass --allow-pickle only if you trust the file"
        )
    try:
        return sio.load(str(path), trusted=list(untrusted))
    except Exception as exc:
        raise ModelLoadError(
            f"model: tried skops.io.load({str(path)!r}): {type(exc).__name__}: {str(exc)[:200]}"
        ) from None


def load_pickled(path: pathlib.Path, allow_pickle: bool) -> Any:
    """A joblib / pickle file, only with ``allow_pickle`` (loading runs code from the file)."""
    if not allow_pickle:
        raise ModelLoadError(
            f"model: {str(path)!r} is a pickled file ({path.suffix}: a pickled nn.Module or estimator); "
            "loading it runs code from the file: pass --allow-pickle only if you trust it, or save an "
            "estimator with skops (skops.io.dump(model, 'model.skops')) or export it to ONNX (skl2onnx)"
        )
    import zipfile

    if zipfile.is_zipfile(path):  # torch.save writes a zip archive; joblib and pickle do not
        import torch

        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise ModelLoadError(
                f"model: tried torch.load({str(path)!r}, weights_only=False): {type(exc).__name__}: {str(exc)[:200]}"
            ) from None
    try:
        import joblib  # reads plain pickles too

        return joblib.load(path)
    except Exception as exc:
        raise ModelLoadError(
            f"model: tried joblib.load({str(path)!r}): {type(exc).__name__}: {str(exc)[:200]}"
        ) from None


def load_onnx_session(path: pathlib.Path) -> Any:
    """An ONNX Runtime session on the CPU for the ``.onnx`` file."""
    ort = require("onnxruntime", "onnx")
    try:
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelLoadError(
            f"model: tried onnxruntime.InferenceSession({str(path)!r}): {type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200] if str(exc) else ''}"
        ) from None


def is_foreign_detector(model: Any) -> bool:
    """A detector the presets take that is not a torch module: an estimator or an ONNX Runtime session."""
    from deepaid_sdk.model.foreign import is_estimator, is_onnx_session

    return is_estimator(model) or is_onnx_session(model)
