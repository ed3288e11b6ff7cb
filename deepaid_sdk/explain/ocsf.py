"""OCSF Detection Findings (schema 1.5.0, class 2004) from explain records: ``deepaid explain --format ocsf``.

One finding per alert (rows that are no alert have none), as JSON lines. The changed features are the
``anomaly_analyses[0].anomalies`` (``observation_parameter`` = the feature, the alert's value observed)
and the reference's values are its ``baselines``; ``finding_info.desc`` is the record's sentence. Where
``--rules`` gave a verdict it is the incident profile's ``verdict``/``verdict_id``, a suppressed alert has
``status_id`` 3 (Suppressed). The whole deepaid record stays in ``unmapped.deepaid``.

Definitions followed (ocsf/ocsf-schema, v1.5.0): ``events/findings/detection_finding.json`` and
``finding.json``, ``objects/anomaly_analysis.json``, ``anomaly.json``, ``baseline.json``,
``observation.json``, ``analysis_target.json``, ``finding_info.json``, ``metadata.json``, ``product.json``.
``deepaid_sdk.explain.ocsf_schema`` is a JSON Schema of the fields written here, to validate against.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import attrs

#: OCSF schema version the findings follow (``metadata.version``).
OCSF_VERSION = "1.5.0"
CLASS_UID, CATEGORY_UID, ACTIVITY_CREATE = 2004, 2, 1
TYPE_UID = CLASS_UID * 100 + ACTIVITY_CREATE
#: ``severity_id`` by excess over the threshold (see ``severity``): (upper bound, id, name), in order.
SEVERITY_STEPS = ((1.0, 2, "Low"), (3.0, 3, "Medium"), (10.0, 4, "High"), (float("inf"), 5, "Critical"))
#: Distiller verdicts that have an OCSF ``verdict_id`` of their own (others are 99, Other, with their label).
VERDICT_IDS = {
    "false_positive": (1, "False Positive"),
    "false positive": (1, "False Positive"),
    "benign": (5, "Benign"),
}


def excess(score: float, threshold: float) -> float:
    """How far ``score`` is over ``threshold``: relative to a positive threshold (``(s - t) / t``), the plain
    difference for a threshold of 0 or less (DeepLog's: keys flagged)."""
    return (score - threshold) / threshold if threshold > 0 else score - threshold


def severity(score: float | None, threshold: float | None) -> tuple[int, str]:
    """``(severity_id, severity)``: Low up to an excess of 1 (twice a positive threshold), Medium up to 3,
    High up to 10, Critical beyond; Unknown (0) for an alert without a score (GL-GV's unseen node)."""
    if score is None or threshold is None:
        return 0, "Unknown"
    e = excess(float(score), float(threshold))
    return next((sid, name) for bound, sid, name in SEVERITY_STEPS if e <= bound)


def _value(value: Any) -> str:
    """An observed value as OCSF's ``observation.value`` (a string): exact, whole numbers without ``.0``."""
    if value is None:
        return "none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@attrs.frozen
class OcsfContext:
    """What every finding of a job shares: the preset and its plugin, the job's time, what a record is."""

    preset: str
    plugin: str
    """The plugin that registered the preset (its distribution where installed, e.g. deepaid-plugin-tabular)."""
    plugin_version: str | None = None
    time_ms: int = 0
    """The job's start (ms since the epoch; the manifest keeps it, so a resumed job writes the same)."""
    unit: str = "row"

    def findings(self, table: Any) -> list[dict[str, Any]]:
        """The findings of a chunk's records (a ``pyarrow.Table``): one per alert, in order."""
        from deepaid_sdk.explain.records import record_dicts

        return [self.finding(r) for r in record_dicts(table) if r.get("alert")] if table.num_rows else []

    def finding(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """One record (an alert) as an OCSF Detection Finding."""
        from deepaid_sdk import __version__

        uid = str(record["id"])
        sev_id, sev = severity(record.get("score"), record.get("threshold"))
        changed = [str(c) for c in record.get("changed") or []]
        sentence = record.get("sentence") or f"{self.preset} alert {uid}"
        title = f"deepaid {self.preset}: {self.unit} {uid}" + (f" ({', '.join(changed[:3])})" if changed else "")
        feature = {"name": self.preset, "uid": f"{self.plugin}:{self.preset}"}
        if self.plugin_version:
            feature["version"] = self.plugin_version
        out: dict[str, Any] = {
            "activity_id": ACTIVITY_CREATE,
            "activity_name": "Create",
            "category_uid": CATEGORY_UID,
            "category_name": "Findings",
            "class_uid": CLASS_UID,
            "class_name": "Detection Finding",
            "type_uid": TYPE_UID,
            "type_name": "Detection Finding: Create",
            "severity_id": sev_id,
            "severity": sev,
            "status_id": 3 if record.get("suppressed") else 1,
            "status": "Suppressed" if record.get("suppressed") else "New",
            "time": int(self.time_ms),
            "is_alert": True,
            "message": sentence,
            "metadata": {
                "version": OCSF_VERSION,
                "product": {
                    "name": "deepaid-sdk",
                    "vendor_name": "deepaid-sdk",
                    "version": __version__,
                    "feature": feature,
                },
                "labels": [f"deepaid.plugin={self.plugin}", f"deepaid.preset={self.preset}"],
                "uid": uid,
            },
            "finding_info": {
                "uid": uid,
                "title": title,
                "desc": sentence,
                "types": ["Anomaly"],
                "analytic": {"name": self.preset, "type_id": 4, "type": "Learning (ML/DL)", "uid": feature["uid"]},
            },
            "anomaly_analyses": [self._analysis(uid, record, changed)],
            "unmapped": {"deepaid": json.loads(json.dumps(dict(record), default=str))},
        }
        if record.get("verdict") is not None:
            out["metadata"]["profiles"] = ["incident"]
            vid, vname = VERDICT_IDS.get(str(record["verdict"]).lower(), (99, str(record["verdict"])))
            out["verdict_id"], out["verdict"] = vid, vname if vid != 99 else str(record["verdict"])
            if record.get("confidence") is not None:
                out["confidence_score"] = int(round(100 * float(record["confidence"])))
        return out

    def _analysis(self, uid: str, record: Mapping[str, Any], changed: list[str]) -> dict[str, Any]:
        """``anomaly_analysis``: the changed features as anomalies, the reference's values as baselines."""
        alert = record.get("anomaly_values") or [None] * len(changed)
        reference = record.get("reference_values") or [None] * len(changed)

        def entry(name: str, value: Any) -> dict[str, Any]:
            return {"observation_parameter": name, "observation_type": "Deviation Analysis",
                    "observations": [{"value": _value(value)}]}  # fmt: skip

        anomalies = [entry(n, v) for n, v in zip(changed, alert)]
        if not anomalies:  # an alert with nothing changed (no score, or no reference in the budget): its score
            anomalies = [entry("score", record.get("score"))]
        analysis: dict[str, Any] = {
            "analysis_targets": [{"name": uid, "type": self.unit}],
            "anomalies": anomalies,
        }
        baselines = [entry(n, v) for n, v in zip(changed, reference)]
        if baselines:
            analysis["baselines"] = baselines
        return analysis


def write_findings(findings: list[dict[str, Any]], handle: Any) -> None:
    """Findings as JSON lines (strict JSON) to an open text file."""
    for finding in findings:
        handle.write(json.dumps(finding, allow_nan=False, separators=(",", ":")))
        handle.write("\n")
