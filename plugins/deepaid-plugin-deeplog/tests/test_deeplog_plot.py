"""The DeepLog sequence plot says what it shows: a title with the verdict and the changed position, a y label."""

from __future__ import annotations

import numpy as np

from deepaid_plugin_deeplog.views import plot_sequence, sequence_figure
from deepaid_sdk.results import Interpretation


def _interp() -> Interpretation:
    anomaly = np.array([0, 0, 3, 5, 9], dtype=np.int64)  # window of 4 keys, then the next key
    reference = np.array([0, 0, 3, 5, 6], dtype=np.int64)
    return Interpretation(
        anomaly=anomaly,
        reference=reference,
        changed=np.array([4]),
        anomaly_values=anomaly[[4]],
        reference_values=reference[[4]],
        score=2.5,
        reference_score=-1.0,
        threshold=0.0,
        flipped=True,
        steps=1,
        seconds=0.0,
    )


def test_sequence_plot_has_a_title_and_a_y_label(tmp_path):
    templates = {0: "<pad>", 3: "open <*>", 5: "read <*>", 6: "close <*>", 9: "crash <*>"}
    ax = sequence_figure(_interp(), templates).axes[0]
    assert "reference accepted" in ax.get_title() and "changed position: next" in ax.get_title()
    assert ax.get_ylabel() == "log key (template)"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["<pad>", "open <*>", "read <*>", "close <*>", "crash <*>"]
    assert min(t.get_fontsize() for t in ax.get_yticklabels()) >= 8
    assert sequence_figure(_interp()).axes[0].get_ylabel() == "log key"
    assert plot_sequence(_interp(), tmp_path / "seq.png", templates).stat().st_size > 5000
