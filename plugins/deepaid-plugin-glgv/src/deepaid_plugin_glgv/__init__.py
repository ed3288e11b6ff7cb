"""DeepAID for GL-GV: explain alerts of a link-prediction detector on an authentication graph.

The reference of an anomalous login edge is the nearest existing edge the detector judges
normal, found by a batched best-first search around the alert's endpoints; the explanation is
that edge and the hop path to it.
"""

from deepaid_plugin_glgv.adapters import EdgeAdapter, LinkClassifier
from deepaid_plugin_glgv.classifiers import LinearTwin, ProbaClassifier
from deepaid_plugin_glgv.constraints import SameKindsConstraint
from deepaid_plugin_glgv.detector import GLGV, sample_non_edges, train_link_classifier
from deepaid_plugin_glgv.distances import EdgeEmbeddingDistance, HopDistance
from deepaid_plugin_glgv.embeddings import KeyedEmbeddings, embed_graph, random_walks, train_skipgram
from deepaid_plugin_glgv.graph import KINDS, AuthGraph, default_node_kind, read_edge_list
from deepaid_plugin_glgv.preset import glgv_interpreter
from deepaid_plugin_glgv.search import GraphReferenceSearch
from deepaid_plugin_glgv.synthetic import Enterprise, enterprise

__all__ = [
    "AuthGraph",
    "EdgeAdapter",
    "EdgeEmbeddingDistance",
    "Enterprise",
    "GLGV",
    "GraphReferenceSearch",
    "HopDistance",
    "KINDS",
    "KeyedEmbeddings",
    "LinearTwin",
    "LinkClassifier",
    "ProbaClassifier",
    "SameKindsConstraint",
    "default_node_kind",
    "embed_graph",
    "enterprise",
    "glgv_interpreter",
    "random_walks",
    "read_edge_list",
    "sample_non_edges",
    "train_link_classifier",
    "train_skipgram",
]
