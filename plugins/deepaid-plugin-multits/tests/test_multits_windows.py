"""Windowing: sample shapes, targets, and errors on bad series."""

import numpy as np
import pytest
import torch

from deepaid_plugin_multits.windows import (
    check_series,
    mask_windows_at,
    sliding_windows,
    split_samples,
    training_pairs,
    window_end_steps,
    windows_at,
)


def _series(t=20, d=3):
    return np.arange(t * d, dtype=np.float32).reshape(t, d)


def test_sliding_windows_are_context_then_actual_vector():
    series = _series()
    samples = sliding_windows(series, 4)
    assert samples.shape == (16, 5, 3)
    ends = window_end_steps(20, 4)
    assert ends.tolist() == list(range(4, 20))
    for i, end in enumerate(ends):
        np.testing.assert_array_equal(samples[i], series[end - 4 : end + 1])
    inputs, targets = split_samples(samples)
    np.testing.assert_array_equal(inputs, samples[:, :-1])
    np.testing.assert_array_equal(targets, series[4:])


def test_stride_keeps_matching_end_steps():
    samples = sliding_windows(_series(), 4, stride=3)
    ends = window_end_steps(20, 4, stride=3)
    assert len(samples) == len(ends)
    np.testing.assert_array_equal(samples[:, -1], _series()[ends])


def test_windows_at_picks_the_window_ending_at_each_step():
    series = _series()
    got = windows_at(series, [4, 10, 19], 4)
    np.testing.assert_array_equal(got[1], series[6:11])
    truth = np.zeros((20, 3), dtype=bool)
    truth[10, 1] = True
    masks = mask_windows_at(truth, [10, 11], 4)
    assert masks.dtype == bool and masks[0, -1, 1] and masks[1, -2, 1] and masks.sum() == 2


def test_training_pairs_from_several_series():
    x, y = training_pairs([_series(10), _series(12)], 3)
    assert x.shape == (7 + 9, 3, 3) and y.shape == (16, 3)
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32
    np.testing.assert_array_equal(y[:7].numpy(), _series(10)[3:])


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros(5), "expected a series"),
        (np.zeros((0, 3)), "non-empty"),
        ("abc", "numpy array or torch tensor"),
    ],
)
def test_bad_series_shapes(bad, message):
    with pytest.raises((ValueError, TypeError), match=message):
        check_series(bad)


def test_nan_in_series_names_the_steps():
    series = _series()
    series[7, 2] = np.nan
    series[12, 0] = np.inf
    with pytest.raises(ValueError, match=r"series: contains NaN or inf at steps \[7, 12\]"):
        sliding_windows(series, 4)


def test_series_too_short_and_bad_steps():
    with pytest.raises(ValueError, match="need at least W\\+1=6"):
        sliding_windows(_series(5), 5)
    with pytest.raises(ValueError, match="steps: each must lie in"):
        windows_at(_series(), [3], 4)
    with pytest.raises(ValueError, match="window: expected an integer >= 1"):
        sliding_windows(_series(), 0)
    with pytest.raises(ValueError, match="same number of features"):
        training_pairs([_series(10, 3), _series(10, 4)], 3)
