"""A small trained GL-GV detector shared by the plugin's test modules (trained once per session)."""

import pytest

from deepaid_plugin_glgv import GLGV, AuthGraph, enterprise


@pytest.fixture(scope="session")
def glgv_trained():
    """The synthetic enterprise data, its training graph and a detector fitted on it."""
    data = enterprise(
        departments=3,
        users_per_department=10,
        workstations_per_department=6,
        servers_per_department=2,
        services=3,
        chains=3,
        seed=0,
    )
    graph = AuthGraph.from_arrays(*data.train)
    det = GLGV.fit(graph, dim=16, walks_per_node=5, epochs=2, classifier_epochs=100, seed=0)
    return data, graph, det
