"""The one error every model loader raises (``models`` and ``foreign_models`` both use it)."""


class ModelLoadError(ValueError):
    """A model spec that could not be loaded; the message says what was tried and what to pass."""
