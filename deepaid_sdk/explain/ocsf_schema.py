"""A JSON Schema (draft 2020-12) of the OCSF 1.5.0 Detection Finding fields ``deepaid explain --format ocsf``
writes, and ``validate`` (jsonschema, extra ``ocsf``).

Written from the OCSF definitions (ocsf/ocsf-schema at v1.5.0; https://schema.ocsf.io/1.5.0/), not copied:
requirements as they mark them ("required"), types from ``dictionary.json`` (``string_t``, ``integer_t``,
``timestamp_t`` = ms since the epoch as an integer, ``boolean_t``), enums of the ids. Objects list every
attribute the OCSF object defines that we may write; ``additionalProperties: false`` then catches a name
OCSF does not have there (a typo, or an attribute of another version):

- event: ``events/base_event.json``, ``events/findings/finding.json`` (with the ``incident`` profile's
  ``verdict``/``verdict_id``), ``events/findings/detection_finding.json`` (``anomaly_analyses``, ``is_alert``);
  ``type_uid`` = ``class_uid`` * 100 + ``activity_id``;
- ``objects/finding_info.json``, ``analytic.json``, ``metadata.json``, ``product.json``, ``feature.json``;
- ``objects/anomaly_analysis.json`` (``analysis_targets`` and ``anomalies`` required, ``baselines``
  recommended), ``analysis_target.json`` (``name`` required), ``anomaly.json`` and ``baseline.json``
  (``observation_parameter`` and ``observations`` required), ``observation.json`` (``value`` required).
"""

from __future__ import annotations

from typing import Any

from deepaid_sdk.optional import require

_STR: dict[str, Any] = {"type": "string"}
_INT: dict[str, Any] = {"type": "integer"}


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties, "additionalProperties": False}


def _array(item: dict[str, Any], min_items: int = 0) -> dict[str, Any]:
    return {"type": "array", "items": item, "minItems": min_items}


_OBSERVATION = _obj(["value"], value=_STR, count=_INT, timespan={"type": "object"})
# anomaly.json and baseline.json (1.5.0): the same four attributes.
_OBSERVED = _obj(
    ["observation_parameter", "observations"],
    observation_parameter=_STR,
    observation_type=_STR,
    observations=_array(_OBSERVATION, 1),
    observed_pattern=_STR,
)
_ANOMALY_ANALYSIS = _obj(
    ["analysis_targets", "anomalies"],
    analysis_targets=_array(_obj(["name"], name=_STR, type=_STR), 1),
    anomalies=_array(_OBSERVED, 1),
    baselines=_array(_OBSERVED),
)
_FEATURE = _obj([], name=_STR, uid=_STR, version=_STR)
_PRODUCT = _obj([], name=_STR, vendor_name=_STR, version=_STR, uid=_STR, lang=_STR, feature=_FEATURE)
_METADATA = _obj(
    ["version", "product"],
    version={"type": "string", "pattern": r"^1\.([5-9]|\d{2,})\.\d+"},
    product=_PRODUCT,
    labels=_array(_STR),
    profiles=_array(_STR),
    uid=_STR,
    log_name=_STR,
)
# analytic.json: type_id 0 Unknown .. 11, 99 Other; 4 is Learning (ML/DL).
_ANALYTIC = _obj(
    ["type_id"], name=_STR, uid=_STR, type=_STR, type_id={"enum": [*range(0, 12), 99]}, desc=_STR, version=_STR
)
_FINDING_INFO = _obj(
    ["uid", "title"], uid=_STR, title=_STR, desc=_STR, types=_array(_STR), analytic=_ANALYTIC, created_time=_INT
)
_ACTIVITIES = [0, 1, 2, 3, 99]

DETECTION_FINDING_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "OCSF 1.5.0 Detection Finding (class 2004), the fields deepaid-sdk writes",
    **_obj(
        ["activity_id", "category_uid", "class_uid", "finding_info", "metadata", "severity_id", "time", "type_uid"],
        activity_id={"enum": _ACTIVITIES},
        activity_name=_STR,
        category_uid={"const": 2},
        category_name={"const": "Findings"},
        class_uid={"const": 2004},
        class_name={"const": "Detection Finding"},
        type_uid={"enum": [200400 + a for a in _ACTIVITIES]},
        type_name=_STR,
        severity_id={"enum": [*range(0, 7), 99]},
        severity=_STR,
        status_id={"enum": [*range(0, 7), 99]},
        status=_STR,
        time={"type": "integer", "minimum": 0},
        is_alert={"type": "boolean"},
        message=_STR,
        metadata=_METADATA,
        finding_info=_FINDING_INFO,
        anomaly_analyses=_array(_ANOMALY_ANALYSIS, 1),
        confidence_score=_INT,
        verdict=_STR,
        verdict_id={"enum": [*range(0, 11), 99]},
        unmapped={"type": "object"},
    ),
    # type_uid is class_uid * 100 + activity_id.
    "allOf": [
        {
            "if": {"properties": {"activity_id": {"const": a}}},
            "then": {"properties": {"type_uid": {"const": 200400 + a}}},
        }
        for a in _ACTIVITIES
    ],
}


def validate(finding: dict[str, Any]) -> None:
    """A ValueError naming the first field of ``finding`` that breaks ``DETECTION_FINDING_SCHEMA`` (and how)."""
    jsonschema = require("jsonschema", "ocsf")
    validator = jsonschema.Draft202012Validator(DETECTION_FINDING_SCHEMA)
    errors = sorted(validator.iter_errors(finding), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(the finding)"
        raise ValueError(f"ocsf: {where}: {errors[0].message}")
