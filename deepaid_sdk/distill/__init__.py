"""The Distiller: rules from explanations and analyst verdicts that label, triage and suppress alerts.

See ``docs/distill.md``. ``Distiller(states).fit(interpretations, verdicts)`` -> rules;
``predict``/``triage`` -> verdict, confidence, rule, suppressed per alert; ``improve`` turns
false positives into a retraining set or an allow-list.
"""

from deepaid_sdk.distill.alerts import Alert, as_alerts
from deepaid_sdk.distill.distiller import FALSE_POSITIVE, UNKNOWN, Distiller, Predictions
from deepaid_sdk.distill.improve import AllowList, RetrainingSet, retraining_set
from deepaid_sdk.distill.magnitude import MagnitudeStates
from deepaid_sdk.distill.rules import Rule
from deepaid_sdk.distill.states import IntervalStates, State, StateExtractor

__all__ = [
    "Alert",
    "AllowList",
    "RetrainingSet",
    "retraining_set",
    "Distiller",
    "FALSE_POSITIVE",
    "IntervalStates",
    "MagnitudeStates",
    "Predictions",
    "Rule",
    "State",
    "StateExtractor",
    "UNKNOWN",
    "as_alerts",
]
