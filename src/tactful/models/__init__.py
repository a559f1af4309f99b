"""Collaborative models over users × items CSR matrices, and the default recommender.

The engine trains with ``Recommender.fit(matrix, item_ids, timestamps)``, scores one
person with ``recommend(indices, values, k)`` and persists ``save(dir)`` / ``load(dir)``.
"""

from tactful.models.als import FactorModel, fit_factor_model
from tactful.models.ann import ANN_MIN_ITEMS, ItemIndex, build_item_index, recall_against_exact
from tactful.models.artifact import ModelArtifact
from tactful.models.ease import LinearItemModel, fit_linear_item_model
from tactful.models.item_knn import ItemNeighbours, fit_item_neighbours
from tactful.models.recommender import Recommender, RecommenderConfig
from tactful.models.weighting import SignalWeighting, detect_value_kind

__all__ = [
    "ANN_MIN_ITEMS",
    "FactorModel",
    "ItemIndex",
    "ItemNeighbours",
    "LinearItemModel",
    "ModelArtifact",
    "Recommender",
    "RecommenderConfig",
    "SignalWeighting",
    "build_item_index",
    "detect_value_kind",
    "fit_factor_model",
    "fit_item_neighbours",
    "fit_linear_item_model",
    "recall_against_exact",
]
