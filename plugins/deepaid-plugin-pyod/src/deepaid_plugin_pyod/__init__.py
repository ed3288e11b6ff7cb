"""deepaid plugin for PyOD detectors: ``deepaid_sdk.create("pyod", model=fitted_detector, k=...)``."""

from deepaid_plugin_pyod.adapters import PyodTorchAdapter, pyod_adapter
from deepaid_plugin_pyod.preset import pyod_interpreter

__all__ = ["PyodTorchAdapter", "pyod_adapter", "pyod_interpreter"]
