"""Use time: load a router folder, verify it and route new queries with the pipeline's own code.

Two kinds of folder, one interface (:class:`Router`; usage: ``docs/routing.md``):

* :class:`ClusterRouter`, an Avengers-Pro router (format version 1): the
  :class:`~avengers_pro.routing.avengers.AvengersProEstimator` the sweep routes with, restored from
  the stored centroids and statistics (not a ranking, so the alpha can be changed at load time: the
  performance-efficiency scores are recomputed). It routes, ranks and explains.
* :class:`EstimatorRouter`, a router of another family (kNN, logistic, task, shrinkage; format
  version 2): the fitted estimator restored from plain arrays, whose ``predict`` is the one the
  pipeline's sweep ran, ranked by :func:`avengers_pro.routing.base.rank_models`, the order
  :func:`~avengers_pro.routing.base.select_models` picks from.

So an exported router of any family makes exactly the pipeline's decisions.
"""

from __future__ import annotations

import copy
import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from avengers_pro.embeddings import embed_texts, make_embedder
from avengers_pro.embeddings.core import Embedder, check_texts
from avengers_pro.errors import ConfigError, DataError, EmbeddingError
from avengers_pro.export.embedder import check_embedder, embedder_spec
from avengers_pro.export.folder import (
    CENTROIDS,
    EMBEDDER,
    ESTIMATOR,
    FORMAT_VERSION,
    ROUTER,
    STATISTICS,
    malformed,
    read_centroids,
    read_estimator_arrays,
    read_estimator_spec,
    read_json,
    read_spec,
    read_statistics,
    variant_json,
    verify_folder,
)
from avengers_pro.io import PathLike
from avengers_pro.routing.avengers import AvengersProEstimator
from avengers_pro.routing.base import RouterEstimator, rank_models
from avengers_pro.routing.scores import ClusterStats, Variant
from avengers_pro.routing.state import restore_estimator

#: Environment variable naming a persistent embedding cache for routing (unset: in-memory).
CACHE_ENV = "AVENGERS_PRO_EMBEDDING_CACHE"


def _shared_settings(spec: Mapping[str, Any], alpha: float | None) -> dict[str, Any]:
    """The :class:`Router` arguments every ``router.json`` gives: models, max_router and the alpha."""
    default_alpha = spec["default_alpha"]
    return {
        "models": spec["models"],
        "max_router": spec["max_router"],
        "alpha": default_alpha if alpha is None else alpha,
        "default_alpha": default_alpha,
        "alpha_choice": spec["alpha"],
    }


class Router:
    """A router loaded from an exported folder, ready to route new queries: the shared interface.

    Build one with :meth:`Router.load`, which returns a :class:`ClusterRouter` (Avengers-Pro) or an
    :class:`EstimatorRouter` (another family) depending on the folder. Both embed queries with the
    router's embedder, route (:meth:`route`, :meth:`route_embeddings`, :meth:`route_indices`), rank
    every model for fallbacks (:meth:`rank_embeddings`) and explain a choice (:meth:`explain`).

    Attributes
    ----------
    family : str
        ``avengers-pro`` or the family of an :class:`EstimatorRouter`.
    models : list[str]
        Model names; their order is the tie-break order.
    dim : int
        The embedding dimension.
    max_router : int
        Models routed to per query.
    alpha : float
        The alpha routed with (the exported default unless overridden).
    default_alpha : float
        The alpha stored at export, and ``alpha_choice`` how it was chosen.
    embedding : dict
        The ``embedding:`` block queries are embedded with.
    cache_path : str or None
        Persistent embedding cache (``None``: in-memory).
    """

    family = "avengers-pro"

    def __init__(
        self,
        *,
        models: list[str],
        dim: int,
        max_router: int,
        alpha: float,
        embedding: Mapping[str, Any],
        default_alpha: float | None = None,
        alpha_choice: Mapping[str, Any] | None = None,
        manifest: Mapping[str, Any] | None = None,
        path: PathLike | None = None,
        cache_path: PathLike | None = None,
    ) -> None:
        self.models = list(models)
        self.dim = int(dim)
        self.max_router = int(max_router)
        self._set_alpha(alpha)
        self.default_alpha = self.alpha if default_alpha is None else float(default_alpha)
        self.alpha_choice = dict(alpha_choice or {"default": self.default_alpha, "chosen_by": "fixed"})
        self.embedding = dict(embedding)
        self.manifest = dict(manifest or {})
        self.path = None if path is None else Path(path)
        self.cache_path = None if cache_path is None else str(cache_path)
        self._embedder: Embedder | None = None

    def _set_alpha(self, alpha: float) -> None:
        """Route with ``alpha`` from now on (subclasses recompute what depends on it)."""
        # The user's --alpha (CLI, server) or load(alpha=...): a setting, so a ConfigError the CLI
        # reports in one line. Checked as an object: the annotation does not stop a caller's "0.5".
        value: object = alpha
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0.0 <= float(value) <= 1.0:
            raise ConfigError(f"alpha: must be a number in [0, 1], got {alpha!r}")
        self.alpha = float(alpha)

    @classmethod
    def load(
        cls,
        path: PathLike,
        *,
        alpha: float | None = None,
        embedding: Mapping[str, Any] | None = None,
        cache_path: PathLike | None = None,
    ) -> Router:
        """Load a router folder written by an export, checking every file's sha256.

        Parameters
        ----------
        path
            The router folder (``results/exports/{name}``).
        alpha
            Route with this alpha instead of the exported default (no refit: the scores are
            recomputed from the stored statistics or predictions).
        embedding
            Embedding settings for this machine (``base_url``, ``device``, ``batch_size``...), merged
            over the router's ``embedder.json``. A setting that changes the vectors (backend, model,
            max_tokens, dimensions, query_instruction, tokenizer) and differs is an error.
        cache_path
            Persistent embedding cache (SQLite). Default: ``$AVENGERS_PRO_EMBEDDING_CACHE``, else an
            in-memory cache. The ``cache`` key of ``embedding`` is not used.

        Returns
        -------
        Router
            A :class:`ClusterRouter` for an Avengers-Pro folder (format version 1), an
            :class:`EstimatorRouter` for another family's (version 2).

        Raises
        ------
        DataError
            Missing or altered files, an unknown format version, malformed content.
        ConfigError
            A bad ``alpha`` or an ``embedding`` that differs from the router's.
        """
        folder = Path(path)
        manifest = verify_folder(folder)
        embedder_file = folder / EMBEDDER
        stored_embedding = read_json(embedder_file)
        if not isinstance(stored_embedding, dict):
            raise DataError("expected a JSON object", file=embedder_file)
        try:
            embedder_spec(stored_embedding)
        except ConfigError as error:
            raise malformed(embedder_file, error) from None
        effective = check_embedder(stored_embedding, embedding, embedder_file)
        if cache_path is None:
            cache_path = os.environ.get(CACHE_ENV) or None
        common: dict[str, Any] = {
            "embedding": effective,
            "manifest": manifest,
            "path": folder,
            "cache_path": cache_path,
        }
        if manifest["format_version"] == FORMAT_VERSION:
            return ClusterRouter.from_folder(folder, alpha, common)
        return EstimatorRouter.from_folder(folder, alpha, common)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({str(self.path)!r}, family={self.family!r}, models={len(self.models)}, "
            f"alpha={self.alpha})"
        )

    def with_alpha(self, alpha: float) -> Self:
        """The same router at another alpha (shares the fitted arrays; nothing is refitted)."""
        other = copy.copy(self)
        other._set_alpha(alpha)
        other._embedder = None  # the copy embeds with an embedder of its own, closed on its own
        return other

    # ----------------------------------------------------------------------- embedding

    def embed(self, queries: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embed query texts with the router's embedder → (n, dim) L2-normalised float32.

        Raises
        ------
        DataError
            A query that is not a string or is empty (the row is its position).
        EmbeddingError
            The embedder failed or gave vectors of another dimension than the router's.
        """
        if isinstance(queries, str):
            raise TypeError("queries must be a list of strings, not one string")
        texts = check_texts(list(queries))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._embedder is None:
            self._embedder = make_embedder(self.embedding)
        vectors = embed_texts(
            texts, self.embedding, cache_path=self.cache_path, progress=progress, embedder=self._embedder
        )
        if vectors.shape[1] != self.dim:
            raise EmbeddingError(
                f"the embedder gave {vectors.shape[1]}-dimensional vectors, the router was fitted on {self.dim}"
            )
        return vectors

    def prepare(self) -> None:
        """Build the embedder and load its model now (else the first :meth:`route` does)."""
        if self._embedder is None:
            self._embedder = make_embedder(self.embedding)
        if hasattr(self._embedder, "prepare"):
            self._embedder.prepare()

    def close(self) -> None:
        """Release the embedder (connections of a remote backend)."""
        if self._embedder is not None and hasattr(self._embedder, "close"):
            self._embedder.close()
        self._embedder = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------- routing

    def _check_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, dim) query embeddings, checked for shape; the estimator normalises them (the package's
        one policy, :func:`~avengers_pro.routing.geometry.unit_queries`): any scale routes alike.
        """
        embeddings = np.asarray(embeddings)
        if embeddings.ndim != 2 or embeddings.shape[1] != self.dim:
            raise DataError(
                f"expected embeddings of shape (n, {self.dim}), got {embeddings.shape}",
                field="embedding",
            )
        return embeddings

    def rank_indices(self, embeddings: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Every model's index, best first, for each of (n, dim) query embeddings.

        Returns
        -------
        np.ndarray
            (n, M) int64 indices into :attr:`models`; the first ``max_router`` columns are
            :meth:`route_indices`'s.
        """
        raise NotImplementedError

    def route_indices(self, embeddings: np.ndarray) -> np.ndarray:
        """Model indices chosen for query embeddings (any scale: they are normalised).

        Parameters
        ----------
        embeddings
            (n, dim) query embeddings (float32 or float64).

        Returns
        -------
        np.ndarray
            (n, max_router) int64 indices into :attr:`models`, best first.
        """
        return self.rank_indices(embeddings)[:, : self.max_router]

    def rank_embeddings(self, embeddings: np.ndarray) -> list[list[str]]:
        """Every model's name, best first, for each of (n, dim) query embeddings.

        :meth:`rank_indices` as names: the first is :meth:`route_embeddings`'s choice, the rest the
        order to fall back along (the HTTP server does when a model's upstream fails).
        """
        models = self.models
        return [[models[i] for i in row] for row in self.rank_indices(embeddings).tolist()]

    def route_embeddings(self, embeddings: np.ndarray) -> list[str]:
        """The model chosen (first choice) for each of (n, dim) query embeddings."""
        return self.names(self.route_indices(embeddings)[:, 0])

    def route(self, queries: Sequence[str]) -> list[str]:
        """Embed query texts and return the model chosen (first choice) for each.

        Raises
        ------
        DataError
            An empty query or a non-string.
        """
        return self.route_embeddings(self.embed(queries))

    def names(self, indices: np.ndarray) -> list[str]:
        """Model names of model indices."""
        return np.asarray(self.models, dtype=object)[np.asarray(indices)].tolist()

    # ----------------------------------------------------------------------- explanation

    def explain(self, query: str) -> dict[str, Any]:
        """Why a query goes where it goes; see :meth:`explain_embeddings`."""
        if not isinstance(query, str):
            raise TypeError("explain takes one query string")
        explanation = self.explain_embeddings(self.embed([query]))[0]
        return {"query": query, **explanation}

    def explain_embeddings(self, embeddings: np.ndarray) -> list[dict[str, Any]]:  # pragma: no cover - abstract
        """The routing of each query, step by step (the fields depend on the family)."""
        raise NotImplementedError


class ClusterRouter(Router):
    """An exported Avengers-Pro router (format version 1): an
    :class:`~avengers_pro.routing.avengers.AvengersProEstimator` restored from the folder's centroids
    and statistics, which routes, ranks and explains exactly as the pipeline's sweep.

    Attributes
    ----------
    estimator : AvengersProEstimator
        The fitted estimator; ``centroids``, ``stats``, ``variant``, ``top_k`` and ``beta`` are its.
    """

    family = "avengers-pro"

    def __init__(self, *, estimator: AvengersProEstimator, **common: Any) -> None:
        self.estimator = estimator
        super().__init__(dim=estimator.n_features_in_, **common)

    @property
    def centroids(self) -> np.ndarray:
        """(K, dim) float64 centroids."""
        return self.estimator.centroids_

    @property
    def stats(self) -> ClusterStats:
        """Per (cluster, model) mean score, mean cost and count."""
        return self.estimator.stats_

    @property
    def variant(self) -> Variant:
        """Normalisation, aggregation and distance."""
        return self.estimator.variant

    @property
    def top_k(self) -> int:
        """Nearest clusters a query is routed by."""
        return int(self.estimator.top_k)

    @property
    def beta(self) -> float:
        """Softmax temperature over the distances."""
        return float(self.estimator.beta)

    @classmethod
    def from_folder(cls, folder: Path, alpha: float | None, common: Mapping[str, Any]) -> ClusterRouter:
        """Read a verified version-1 folder (:meth:`Router.load` checks the manifest and embedder first)."""
        spec = read_spec(folder / ROUTER)
        n_clusters = spec["n_clusters"]
        estimator = AvengersProEstimator.from_statistics(
            spec["variant"],
            read_centroids(folder / CENTROIDS, n_clusters),
            read_statistics(folder / STATISTICS, spec["models"], n_clusters),
            spec["models"],
            top_k=spec["top_k"],
            beta=spec["beta"],
            max_router=spec["max_router"],
        )
        return cls(estimator=estimator, **_shared_settings(spec, alpha), **common)

    def __repr__(self) -> str:
        return (
            f"ClusterRouter({str(self.path)!r}, variant={self.variant.name!r}, clusters={len(self.centroids)}, "
            f"models={len(self.models)}, alpha={self.alpha})"
        )

    def route_indices(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, max_router) model indices, best first, by the estimator's
        :meth:`~avengers_pro.routing.avengers.AvengersProEstimator.route`.
        """
        return self.estimator.route(self._check_embeddings(embeddings), self.alpha, max_router=self.max_router)

    def rank_indices(self, embeddings: np.ndarray) -> np.ndarray:
        """Every model's index, best first: the same routing as :meth:`route_indices`, asked for every
        model (the order of the aggregated score S with route's tie-break), so the first
        ``max_router`` columns are :meth:`route_indices`'s.
        """
        return self.estimator.route(self._check_embeddings(embeddings), self.alpha, max_router=len(self.models))

    def explain_embeddings(self, embeddings: np.ndarray) -> list[dict[str, Any]]:
        """The routing of each query, step by step.

        Returns
        -------
        list[dict]
            Per query: ``alpha``, ``variant``, and the estimator's
            :meth:`~avengers_pro.routing.avengers.AvengersProEstimator.explain`: ``model``, ``models``,
            ``clusters`` (the ``top_k`` nearest with their distance, weight, size, and per model ``x``
            and ``rank``) and ``scores`` (each model's aggregated score S).
        """
        embeddings = self._check_embeddings(embeddings)
        variant = {**variant_json(self.variant), "uses_weights": self.variant.uses_weights}
        return [
            {"alpha": self.alpha, "variant": variant, **explained}
            for explained in self.estimator.explain(embeddings, self.alpha, max_router=self.max_router)
        ]


class EstimatorRouter(Router):
    """An exported router of another family (format version 2): a fitted estimator, restored.

    Routing predicts each model's expected score and cost with the estimator (the very ``predict``
    of the pipeline's sweep) and ranks the models with
    :func:`avengers_pro.routing.base.rank_models` at the router's alpha: the first is the model
    :func:`~avengers_pro.routing.base.select_models` chooses.

    Attributes
    ----------
    estimator : avengers_pro.routing.RouterEstimator
        The fitted estimator (kNN, logistic, task or shrinkage).
    hyperparameters : dict
        The hyperparameters chosen on validation.
    """

    def __init__(self, *, estimator: RouterEstimator, hyperparameters: Mapping[str, Any], **common: Any) -> None:
        self.estimator = estimator
        self.family = estimator.family
        self.hyperparameters = dict(hyperparameters)
        super().__init__(**common)

    @classmethod
    def from_folder(cls, folder: Path, alpha: float | None, common: Mapping[str, Any]) -> EstimatorRouter:
        """Read a verified version-2 folder (:meth:`Router.load` checks the manifest and embedder first)."""
        spec_file = folder / ROUTER
        spec = read_estimator_spec(spec_file)
        estimator = restore_estimator(spec["estimator"], read_estimator_arrays(folder / ESTIMATOR), str(spec_file))
        if list(getattr(estimator, "models_", [])) != spec["models"] or estimator.family != spec["family"]:
            raise DataError("the estimator's family or models differ from router.json's", file=spec_file)
        return cls(
            estimator=estimator,
            hyperparameters=spec["hyperparameters"],
            dim=spec["dim"],
            **_shared_settings(spec, alpha),
            **common,
        )

    def _predict(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Expected score and cost (n, M), the models best first (n, M) and their scores x (n, M) of
        embeddings :meth:`_check_embeddings` has checked.
        """
        score, cost = self.estimator.predict(embeddings)
        order, x = rank_models(score, cost, self.alpha, self.estimator.normalisation)
        return score, cost, order, x

    def rank_indices(self, embeddings: np.ndarray) -> np.ndarray:
        """Every model's index, best first, by :func:`~avengers_pro.routing.base.rank_models`."""
        return self._predict(self._check_embeddings(embeddings))[2]

    def explain_embeddings(self, embeddings: np.ndarray) -> list[dict[str, Any]]:
        """The routing of each query, step by step.

        Returns
        -------
        list[dict]
            Per query: ``alpha``, ``family``, ``hyperparameters``, ``normalisation``, ``model`` (the
            choice), ``models`` (the ``max_router`` choices, best first), ``predicted`` (per model the
            expected ``score`` and ``cost``, and ``x``, the performance-efficiency score of those
            predictions normalised across the query's models; the choice has the highest ``x``) and
            ``details``, what the family bases its prediction on
            (:meth:`~avengers_pro.routing.RouterEstimator.describe`).
        """
        embeddings = self._check_embeddings(embeddings)
        score, cost, order, x = self._predict(embeddings)
        details = self.estimator.describe(embeddings)
        explanations: list[dict[str, Any]] = []
        for q in range(len(embeddings)):
            chosen = [self.models[i] for i in order[q, : self.max_router]]
            explanations.append(
                {
                    "alpha": self.alpha,
                    "family": self.family,
                    "hyperparameters": self.hyperparameters,
                    "normalisation": self.estimator.normalisation,
                    "model": chosen[0],
                    "models": chosen,
                    "predicted": {
                        m: {"score": float(score[q, i]), "cost": float(cost[q, i]), "x": float(x[q, i])}
                        for i, m in enumerate(self.models)
                    },
                    "details": details[q],
                }
            )
        return explanations
