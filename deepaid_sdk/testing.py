"""Conformance checks every plugin runs against its own components (ours and third parties').

Each ``check_*`` function raises ``AssertionError`` with a message naming the broken property.
Call them from a plugin's tests with real data of the plugin's domain::

    from deepaid_sdk.testing import check_constraint
    def test_my_constraint_conforms():
        check_constraint(MyConstraint(...), sample_shape=(20,))

``check_plugin(name)`` runs every check that applies on everything a plugin registers.
``assert_records_close(got, expected)`` compares records or results with a tolerance on floats
(another batch or CPU rounds float32 sums differently).
"""

from deepaid_sdk.component_checks import (
    INVARIANCE_ROWS,
    check_adapter,
    check_batch_invariance,
    check_constraint,
    check_distance,
    check_search,
)
from deepaid_sdk.conformance import CheckReport, CheckResult, Example, check_plugin
from deepaid_sdk.record_compare import assert_records_close

__all__ = [
    "INVARIANCE_ROWS",
    "CheckReport",
    "CheckResult",
    "Example",
    "assert_records_close",
    "check_adapter",
    "check_batch_invariance",
    "check_constraint",
    "check_distance",
    "check_plugin",
    "check_search",
]
