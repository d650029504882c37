"""What each export job reads from the config: the one list of those keys.

The workflow gives every export job exactly :func:`job_config`'s subset as its params (so a setting a
job does not read never reruns it), the export functions build their settings from the same subset
(:func:`export_settings`), and the manifest stores it. Nothing else lists these keys.

The jobs, in the order an entry runs them:

* ``export_clusters`` (an Avengers-Pro entry's KMeans fits) and ``export_select`` (a ``family:``
  entry's choice of family and hyperparameters) read no alpha grid, so a new ``sweep.alphas`` keeps
  them;
* ``export_router`` and ``export_family`` add ``sweep`` (the alpha grid the default alpha is chosen on,
  and ``max_router``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from avengers_pro.errors import ConfigError
from avengers_pro.export.embedder import embedder_spec

#: The export jobs of ``workflow/rules/export.smk``.
JOBS = ("export_clusters", "export_router", "export_select", "export_family")

#: The targets an entry's default alpha can be chosen by (``evaluation.alpha_choice``).
TARGETS = ("match-best-single", "max-accuracy")


def job_config(job: str, config: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``config`` that export job ``job`` reads for ``entry``, in the config's own shape.

    Raises
    ------
    ConfigError
        An unknown job, or a missing config key (named).
    """
    # Imported here: exports are fitted at pipeline time; loading a router must not pull in evaluation.
    from avengers_pro.evaluation.cv import DEFAULT_CV_FOLDS
    from avengers_pro.evaluation.oof import DEFAULT_CV_N_INIT

    if job not in JOBS:
        raise ConfigError(f"unknown export job {job!r}; expected one of {list(JOBS)}")
    try:
        split, clustering = config["split"], config["clustering"]
        subset: dict[str, Any] = {
            "models": list(config.get("models") or []),
            # The first seed only: it seeds the export's KMeans and folds; adding a seed must not refit.
            "split": {"seeds": list(split["seeds"][:1]), "cv_folds": int(split.get("cv_folds", DEFAULT_CV_FOLDS))},
            "clustering": {
                **{key: clustering[key] for key in ("n_init", "minibatch_above")},
                "cv_n_init": int(clustering.get("cv_n_init", DEFAULT_CV_N_INIT)),
            },
        }
        if job == "export_clusters":
            return subset
        avengers = config["avengers"]
        # What decides a text's vector, defaults filled in (host settings such as the cache path left out).
        subset["embedding"] = embedder_spec(config.get("embedding"))
        if job == "export_router":
            variant = entry["variant"]
            subset["avengers"] = {
                "variants": {variant: dict(avengers["variants"][variant])},
                **{key: avengers[key] for key in ("top_k", "beta")},
            }
        else:
            subset["avengers"] = {key: avengers[key] for key in ("variants", "top_k", "beta")}
            subset["families"] = dict(config.get("families") or {})
            subset["clustering"]["n_clusters"] = list(clustering["n_clusters"])
        if job in ("export_router", "export_family"):
            subset["sweep"] = {key: config["sweep"][key] for key in ("alphas", "max_router")}
    except KeyError as error:
        raise ConfigError(f"export '{entry.get('name')}': config key {error.args[0]!r} missing") from None
    if not subset["split"]["seeds"]:
        raise ConfigError("split.seeds: empty; the first seed seeds the exported router's KMeans and folds")
    return subset


def export_settings(job: str, config: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """What export job ``job`` works with: the entry (checked), :func:`job_config`'s subset and the
    first split seed as ``seed``. Also what the manifest stores as ``config``.

    Raises
    ------
    ConfigError
        A missing config key, an entry without exactly one of ``alpha`` and ``target``, an unknown
        ``target``, a bad ``embedding:`` block.
    """
    settings: dict[str, Any] = {"export": dict(entry), **job_config(job, config, entry)}
    settings["seed"] = int(settings["split"]["seeds"][0])
    # Which keys an entry has decides what the export does, so these stay checked here (for callers
    # without the schema) rather than failing later with a KeyError or a wrong branch.
    has_alpha, has_target = "alpha" in entry, "target" in entry
    if has_alpha == has_target:
        raise ConfigError(f"export '{entry.get('name')}': give exactly one of alpha and target")
    if has_target and entry["target"] not in TARGETS:
        raise ConfigError(f"export '{entry.get('name')}'.target: {entry['target']!r} is not one of {list(TARGETS)}")
    return settings
