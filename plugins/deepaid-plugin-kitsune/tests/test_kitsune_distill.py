"""The Distiller on KitNET alerts: rules from 10 labels per class, unknown types, suppression, retraining rows."""

import numpy as np
import pytest

from deepaid_plugin_kitsune.distill_bench import baselines, scores, split
from deepaid_plugin_kitsune.distill_case import DRIFT, KINDS, LABELLED, distill_case
from deepaid_plugin_kitsune.names import feature_names
from deepaid_sdk.distill import Distiller, IntervalStates, as_alerts, retraining_set
from deepaid_sdk.registry import registry


@pytest.fixture(scope="module")
def case():
    return distill_case(per_kind=25, seed=0, cache=None, n_normal=4000)


def test_rules_from_ten_labels_per_class_label_flag_and_suppress_held_out_alerts(case):
    kinds = np.asarray(case.kinds)
    assert set(kinds) == set(KINDS)
    train = split(case.kinds)
    assert train.sum() == 10 * (len(LABELLED) + 1)
    alerts = as_alerts(case.batch)
    distiller = Distiller(IntervalStates.fit(case.normal, feature_names())).fit(
        [alerts[i] for i in np.flatnonzero(train)], [case.verdicts[i] for i in np.flatnonzero(train)]
    )
    triage = distiller.triage([alerts[i] for i in np.flatnonzero(~train)])
    result = scores(np.array(triage.verdicts), kinds[~train], triage.suppressed)
    assert result["f1_micro"] >= 0.9
    assert result["unknown_flagged"] >= 0.9
    assert result["fp_suppressed"] >= 0.8 and result["attacks_suppressed"] <= 0.02
    assert len(triage) == int((~train).sum())  # suppressed alerts are kept
    forest, knn = baselines(case, train, seed=0, trees=20).values()
    # Given the same ten labels per class, both baselines classify the held-out known alerts well
    # (measured: forest 0.98, 1-NN 0.97), but 1-NN on explanations rarely says "unknown" (measured 0.38).
    assert forest["f1_micro"] >= 0.9 and knn["f1_micro"] >= 0.9
    assert forest["unknown_flagged"] >= 0.8 and 0.2 <= knn["unknown_flagged"] <= 0.6
    assert result["unknown_flagged"] >= knn["unknown_flagged"] + 0.3


def test_retraining_rows_come_from_the_false_positives_only(case):
    kinds = np.asarray(case.kinds)
    rs = retraining_set(case.batch, list(case.verdicts), points=3)
    assert rs.alerts == int((kinds == DRIFT).sum()) and rs.rows.shape == (3 * rs.alerts, 115)
    assert set(kinds[rs.source]) == {DRIFT}
    np.testing.assert_allclose(rs.rows[2::3], case.batch.anomalies[kinds == DRIFT], rtol=1e-6)


def test_bench_and_demo_are_registered():
    reg = registry()
    assert reg.get("benchmarks", "distill").provider == "kitsune"
    assert reg.get("demos", "distill").provider == "kitsune"
