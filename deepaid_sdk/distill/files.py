"""Reading and writing the Distiller's files: explanation records, verdicts, normal data, rules.

Explanation records are JSON lines (one record per line, as ``deepaid explain`` writes them:
``id, changed, anomaly_values, reference_values, ...``) or one JSON document (an
``InterpretationBatch.to_dict()`` or a list of records). Verdicts are JSON lines
(``{"id": ..., "verdict": ...}``), a CSV with ``id`` and ``verdict`` columns, or plain text with
one label per line in record order.
"""

from __future__ import annotations

import csv
import json
import pathlib
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from deepaid_sdk.distill.distiller import Distiller
from deepaid_sdk.distill.states import IntervalStates, StateExtractor


def read_records(path: str | pathlib.Path) -> list[dict[str, Any]]:
    """Explanation records from JSON lines or one JSON document (see the module docstring)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"interpretations: no such file: {path}")
    text = path.read_text()
    stripped = text.lstrip()
    if stripped.startswith("[") or (stripped.startswith("{") and "\n{" not in stripped.strip()):
        data = json.loads(text)
        records = data.get("interpretations") if isinstance(data, Mapping) else data
        if not isinstance(records, list):
            raise ValueError(f"interpretations: {path} holds neither records nor an 'interpretations' list")
        return records
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"interpretations: {path}:{n} is not JSON ({exc.msg})") from None
    return records


def read_verdicts(path: str | pathlib.Path, records: Sequence[Mapping[str, Any]]) -> list[str]:
    """One verdict per record, matched by ``id`` where the file and the records have ids, else in order."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"verdicts: no such file: {path}")
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    pairs: list[tuple[Any, str]] = []
    if lines and lines[0].lstrip().startswith("{"):
        for line in lines:
            item = json.loads(line)
            if "verdict" not in item:
                raise ValueError(f"verdicts: expected records with 'verdict'; got {item!r}")
            pairs.append((item.get("id"), str(item["verdict"])))
    elif lines and "verdict" in [c.strip() for c in lines[0].split(",")]:
        for row in csv.DictReader(lines):
            pairs.append((row.get("id"), str(row["verdict"]).strip()))
    else:
        pairs = [(None, line.strip()) for line in lines]
    ids = [r.get("id") for r in records]
    if all(i is not None for i, _ in pairs) and all(i is not None for i in ids):
        by_id = {str(i): v for i, v in pairs}
        missing = [i for i in ids if str(i) not in by_id]
        if missing:
            raise ValueError(f"verdicts: no verdict for record ids {missing[:5]} ({len(missing)} missing)")
        return [by_id[str(i)] for i in ids]
    if len(pairs) != len(records):
        raise ValueError(f"verdicts: expected one verdict per record ({len(records)}); got {len(pairs)}")
    return [v for _, v in pairs]


def read_normal(path: str | pathlib.Path) -> tuple[np.ndarray, list[str] | None]:
    """Normal rows from ``.npy`` or ``.csv`` (a header row gives the feature names)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"normal: no such file: {path}")
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False), None
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    try:
        float(rows[0][0])
        header = None
    except (ValueError, IndexError):
        header, rows = rows[0], rows[1:]
    return np.asarray(rows, dtype=np.float64), header


def states_for(
    records: Sequence[Mapping[str, Any]],
    *,
    normal: str | pathlib.Path | None = None,
    feature_names: str | pathlib.Path | None = None,
    states: str | None = None,
) -> StateExtractor:
    """The state extractor for the CLI: a registered one by name, or intervals of the normal data.

    Without normal data, the intervals come from the records' full ``reference`` rows (inputs the
    detector accepts), which ``InterpretationBatch.to_dict()`` writes.
    """
    if states is not None and states != IntervalStates.name:
        from deepaid_sdk.registry import registry

        return registry().get("distill_states", states).factory()
    names = None
    if feature_names is not None:
        names = [n.strip() for n in pathlib.Path(feature_names).read_text().splitlines() if n.strip()]
    if normal is not None:
        rows, header = read_normal(normal)
        return IntervalStates.fit(rows, names or header)
    refs = [r.get("reference") for r in records]
    if any(r is None for r in refs):
        raise ValueError(
            "normal: give --normal FILE (normal rows, .npy or .csv) when the records do not hold full 'reference' rows"
        )
    return IntervalStates.fit(np.asarray(refs, dtype=np.float64), names)


def load_rules(path: str | pathlib.Path) -> Distiller:
    """A Distiller from a rules file written by ``deepaid distill`` or ``Distiller.to_json``."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"rules: no such file: {path}")
    try:
        return Distiller.from_json(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"rules: {path} is not JSON ({exc.msg})") from None


def triage_records(records: Sequence[Mapping[str, Any]], rules: Distiller | str | pathlib.Path) -> list[dict[str, Any]]:
    """Every record with ``verdict``, ``confidence``, ``rule`` and ``suppressed`` added (none dropped).

    The one call ``deepaid explain --rules rules.json`` needs: ``triage_records(records, args.rules)``.
    """
    distiller = rules if isinstance(rules, Distiller) else load_rules(rules)
    return distiller.annotate(records)


def write_jsonl(records: Sequence[Mapping[str, Any]], path: str | pathlib.Path | None) -> None:
    """Records as JSON lines to ``path`` (stdout when None)."""
    text = "".join(json.dumps(r, allow_nan=False) + "\n" for r in records)
    if path is None:
        print(text, end="")
    else:
        pathlib.Path(path).write_text(text)


#: The columns ``rules_field`` adds to every ``deepaid explain`` record.
TRIAGE_COLUMNS = ("verdict", "confidence", "rule", "suppressed")


def rules_field(rules: Distiller | str | pathlib.Path) -> Callable[[Any], dict[str, list[Any]]]:
    """A ``deepaid_sdk.explain`` record field: each record's ``verdict``, ``confidence``, ``rule``, ``suppressed``.

    Records that are no alert (``alert`` false) get nulls and ``suppressed`` false.

    ``deepaid explain ... --rules rules.json`` and ``explain_file(..., fields=[rules_field("rules.json")])``
    use it; the rules are loaded once, every record keeps its row (suppressed, never dropped). The field's
    ``fingerprint`` (a hash of the rules) goes into the job's resume check: other rules, another job.
    """
    import hashlib

    from deepaid_sdk.explain.records import record_dicts

    distiller = rules if isinstance(rules, Distiller) else load_rules(rules)

    def field(records: Any) -> dict[str, list[Any]]:
        # Only alerts get a verdict: a row the detector did not flag is its own reference, with nothing to
        # triage; its triage columns are null (and it is never suppressed), so verdict counts are over alerts.
        rows = record_dicts(records)
        alerts = [i for i, r in enumerate(rows) if r.get("alert", True)]
        out: dict[str, list[Any]] = {name: [None] * len(rows) for name in TRIAGE_COLUMNS}
        out["suppressed"] = [False] * len(rows)
        if alerts:
            triaged = distiller.triage([rows[i] for i in alerts]).records()
            for i, record in zip(alerts, triaged):
                for name in TRIAGE_COLUMNS:
                    out[name][i] = record[name]
        return out

    text = json.dumps(distiller.to_dict(), sort_keys=True, default=str)
    field.fingerprint = {"rules_blake2b": hashlib.blake2b(text.encode(), digest_size=16).hexdigest()}  # type: ignore[attr-defined]
    return field
