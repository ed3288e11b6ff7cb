"""The plugin as users meet it: registry, the ``glgv`` preset, views, the baseline, the demo."""

import json
import re

import numpy as np
import pytest

import deepaid_sdk
from deepaid_plugin_glgv.bench import NearestNormalEdgeBaseline, graph_metrics
from deepaid_plugin_glgv.demo import run as run_demo
from deepaid_plugin_glgv.views import explain_text, plot_neighbourhood, summary
from deepaid_sdk import Interpreter
from deepaid_sdk.plugins import get_plugin_manager
from deepaid_sdk.registry import Registry


@pytest.fixture(scope="module")
def setup(glgv_trained):
    data, graph, det = glgv_trained
    pairs, _ = data.test_edges()
    alerts = pairs[det.score_edges(pairs) > det.threshold]
    return graph, det, alerts


def test_registry_lists_the_plugins_components():
    reg = Registry.from_plugin_manager(get_plugin_manager())
    expected = {
        "searches": "graph",
        "distances": "graph-hops",
        "constraints": "same-kinds",
        "adapters": "edge",
        "interpreters": "glgv",
        "demos": "glgv",
        "benchmarks": "glgv",
    }
    for kind, name in expected.items():
        assert reg.get(kind, name).provider == "glgv", (kind, name)
    assert reg.get("distances", "edge-embedding").provider == "glgv"
    assert not [f for f in reg.failures if f.plugin == "glgv"]


def test_preset_explains_alerts_given_by_node_names(setup):
    graph, det, alerts = setup
    interp = deepaid_sdk.create("glgv", model=det)
    assert isinstance(interp, Interpreter) and interp.search.name == "graph"
    assert [c.name for c in interp.constraints] == ["fidelity", "stability", "same-kinds"]
    batch = interp.interpret_batch(alerts)
    assert batch.flipped.mean() >= 0.95
    assert np.median([d["hops"] for d in batch.details]) <= 2
    assert [d["anomaly_edge"] for d in batch.details] == alerts.tolist()
    json.dumps(batch.to_dict())  # JSON-safe, details included
    one = interp.interpret(graph.ids(alerts[0]))
    assert one.flipped and one.reference.shape == (2,)
    keep = deepaid_sdk.create("glgv", model=det.adapter(), frozen=[0], max_depth=2)
    assert (keep.interpret_batch(alerts).references[:, 0] == graph.ids(alerts[:, 0])).all()


def test_preset_keeps_the_account_by_default_and_keep_changes_it(setup):
    graph, det, alerts = setup
    ids = graph.ids(alerts)
    default = deepaid_sdk.create("glgv", model=det)
    assert default.search.keep == "source"
    batch = default.interpret_batch(alerts)
    assert batch.flipped.all()
    np.testing.assert_array_equal(batch.references[:, 0], ids[:, 0])  # the acting account stays
    either = deepaid_sdk.create("glgv", model=det, keep="either").interpret_batch(alerts)
    assert either.flipped.all() and (either.references[:, 0] != ids[:, 0]).any()
    host = deepaid_sdk.create("glgv", model=det, keep="destination").interpret_batch(alerts)
    np.testing.assert_array_equal(host.references[:, 1], ids[:, 1])
    assert np.mean([d["hops"] for d in batch.details]) <= np.mean([d["hops"] for d in either.details])


def test_preset_rejects_bad_options(setup):
    _, det, _ = setup
    with pytest.raises(TypeError, match="model: expected a fitted GLGV or an EdgeAdapter"):
        deepaid_sdk.create("glgv", model=det.classifier)
    with pytest.raises(ValueError, match=r"k: expected at most the number of features \(2\)"):
        deepaid_sdk.create("glgv", model=det, k=3)
    with pytest.raises(ValueError, match="max_depth: expected an integer >= 1; got 0"):
        deepaid_sdk.create("glgv", model=det, max_depth=0)
    with pytest.raises(ValueError, match="keep: expected one of .*; got 'account'"):
        deepaid_sdk.create("glgv", model=det, keep="account")


def test_views_summarise_and_draw(setup, tmp_path):
    graph, det, alerts = setup
    batch = deepaid_sdk.create("glgv", model=det).interpret_batch(alerts)
    text = summary(batch, limit=3)
    assert f"{len(alerts)} alerts" in text and "judged normal for 100.0%" in text and "first 3 shown" in text
    sentence = explain_text(batch, 0)
    assert sentence.startswith(" -> ".join(alerts[0])) and "judged normal" in sentence and "changed" in sentence
    plot_neighbourhood(batch, 0, graph, tmp_path / "alert.png")
    assert (tmp_path / "alert.png").stat().st_size > 5000
    normal_edge = graph.names[graph.edges[det.score_edges(graph.edges) <= det.threshold][:1]]
    mixed = deepaid_sdk.create("glgv", model=det).interpret_batch(np.concatenate([normal_edge, alerts[:2]]))
    assert "2 alerts" in summary(mixed) and "1 rows were not alerts" in summary(mixed)
    assert "not an alert" in explain_text(mixed, 0) and "judged normal" in explain_text(mixed, 1)
    plain = deepaid_sdk.create("gradient", model=lambda x: x.sum(dim=1), threshold=0.0, sample_shape=(2,))
    with pytest.raises(ValueError, match="batch: has no graph details"):
        summary(plain.interpret_batch(np.ones((1, 2), dtype=np.float32)))


def test_baseline_finds_normal_edges_anywhere_in_the_graph(setup):
    graph, det, alerts = setup
    adapter = det.adapter()
    ours = deepaid_sdk.create("glgv", model=det).interpret_batch(alerts)
    base = Interpreter(adapter, NearestNormalEdgeBaseline()).interpret_batch(alerts)
    assert base.flipped.all() and graph.has_edges(base.references).all()
    ours_m, base_m = graph_metrics(ours), graph_metrics(base)
    assert base_m["embedding_distance"] <= ours_m["embedding_distance"] + 1e-6  # its only criterion
    assert ours_m["mean_hops"] <= base_m["mean_hops"]
    assert set(ours_m) == {"normal", "median_hops", "mean_hops", "within_2", "embedding_distance", "ms_per_alert"}


def test_demo_runs_end_to_end_on_a_small_enterprise(tmp_path, capsys):
    assert run_demo(tmp_path, departments=3) == 0
    out = capsys.readouterr().out
    assert "reference judged normal" in out and "alerts" in out
    assert "{" not in out.splitlines()[0]  # the graph's sizes are a table, not a raw dict
    assert out.splitlines()[0].split()[:3] == ["training", "graph", "nodes"]
    data = json.loads((tmp_path / "glgv-interpretations.json").read_text())
    assert data["method"] == "graph" and data["interpretations"][0]["details"]["path"]
    plots = list(tmp_path.glob("glgv-alert-*.png"))
    assert len(plots) == 1 and re.fullmatch(r"glgv-alert-\d+\.png", plots[0].name)


def _colour(artist) -> set[str]:
    from matplotlib.colors import to_hex

    colours = []
    for getter in ("get_edgecolor", "get_facecolor", "get_color"):
        if hasattr(artist, getter):
            value = np.atleast_2d(getattr(artist, getter)()) if getter != "get_color" else [artist.get_color()]
            colours += [to_hex(c) for c in value if len(np.atleast_1d(c))]
    return set(colours)


def test_neighbourhood_legend_names_only_what_is_drawn(setup):
    from deepaid_plugin_glgv.views import neighbourhood_figure

    graph, det, alerts = setup
    batch = deepaid_sdk.create("glgv", model=det).interpret_batch(alerts)
    one_hop = next(i for i, d in enumerate(batch.details) if d and d["hops"] == 1)  # path = the reference edge
    ax = neighbourhood_figure(batch, one_hop, graph).axes[0]
    drawn = [a for a in ax.collections if len(a.get_paths()) or len(a.get_offsets())]
    drawn_colours = set().union(*(_colour(a) for a in drawn))
    legend = ax.get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert "hop path" not in labels and labels[:2] == ["alert edge", "reference edge"]
    for handle, label in zip(legend.legend_handles, labels):
        assert _colour(handle) & drawn_colours, f"legend entry {label!r} has no drawn artist"
