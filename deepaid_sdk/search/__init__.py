"""Reference searches: the interface and its batch result (``base``), pruning and ranking of changes
(``ranking``), the gradient search (``gradient``) and the gradient-free one (``blackbox``)."""

from deepaid_sdk.model.adapters import SCORE_CHUNK, score_in_chunks
from deepaid_sdk.search.base import ReferenceSearch, build_batch
from deepaid_sdk.search.blackbox import BlackboxSearch
from deepaid_sdk.search.gradient import GradientSearch
from deepaid_sdk.search.ranking import (
    prune_and_rank,
    prune_changes,
    rank_changes,
    true_columns,
    undo_scores,
)

__all__ = [
    "SCORE_CHUNK",
    "BlackboxSearch",
    "GradientSearch",
    "ReferenceSearch",
    "build_batch",
    "prune_and_rank",
    "prune_changes",
    "rank_changes",
    "score_in_chunks",
    "true_columns",
    "undo_scores",
]
