"""assert_records_close: floats within a tolerance, everything else exact, each difference named."""

from dataclasses import dataclass

import attrs
import numpy as np
import pytest

from deepaid_sdk.testing import assert_records_close


@dataclass(frozen=True)
class _Edit:
    kind: str
    position: int
    log_likelihood: float


def test_floats_agree_within_the_tolerance_and_the_rest_exactly():
    a = [{"id": "s1", "alert": True, "changed": ["x"], "score": 1.0, "edits": (_Edit("replace", 3, -25.774913),)}]
    b = [{"id": "s1", "alert": True, "changed": ["x"], "score": 1 + 1e-7, "edits": (_Edit("replace", 3, -25.774915),)}]
    assert_records_close(a, b)
    assert_records_close({"v": np.float32(0.5), "a": np.array([1.0, 2.0])}, {"v": 0.5, "a": [1.0, 2.0 + 1e-9]})
    assert_records_close({"x": float("nan")}, {"x": float("nan")})


@attrs.frozen
class _AttrsEdit:
    kind: str
    log_likelihood: float


def test_attrs_classes_are_walked_field_by_field():
    assert_records_close([_AttrsEdit("delete", -3.0)], [_AttrsEdit("delete", -3.0000001)])
    with pytest.raises(AssertionError, match=r"records\[0\]\['log_likelihood'\]: -3.0 != -3.1"):
        assert_records_close([_AttrsEdit("delete", -3.0)], [_AttrsEdit("delete", -3.1)])


@pytest.mark.parametrize(
    ("got", "expected", "named"),
    [
        ({"score": 1.0}, {"score": 1.01}, "records['score']: 1.0 != 1.01"),
        ([_Edit("replace", 3, -1.0)], [_Edit("insert", 3, -1.0)], "records[0]['kind']: 'replace' != 'insert'"),
        ({"id": "s1"}, {"id": "s1", "n": 2}, "keys differ (missing ['n'], extra [])"),
        ({"changed": ["a", "b"]}, {"changed": ["a"]}, "records['changed']: length 2 != 1"),
        ({"alert": True}, {"alert": 1.0}, "records['alert']"),
        ({"x": float("nan")}, {"x": 0.0}, "records['x']: nan != 0.0"),
        ({"id": "ab"}, {"id": ["a", "b"]}, "records['id']"),
    ],
)
def test_each_difference_is_named(got, expected, named):
    with pytest.raises(AssertionError) as err:
        assert_records_close(got, expected)
    assert named in str(err.value)
