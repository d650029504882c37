"""Configuration: validation against the JSON schema with defaults, cross-key checks, derived values.

The Snakefile calls :func:`validate_config` once, before any job runs, with the workflow's schema. Errors are one line naming the key,
e.g. ``config: split.train_ratio: 2 is greater than or equal to the maximum of 1``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import yaml

from avengers_pro.collect.settings import check_collection, check_secrets
from avengers_pro.console import say
from avengers_pro.errors import ConfigError


def load_schema(path: str | Path) -> dict[str, Any]:
    """The config's JSON schema, read from the workflow's YAML file."""
    # The C loader where PyYAML has one: parsing the schema is on every snakemake call, no-op included.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path) as handle:
        return yaml.load(handle, Loader=loader)


def load_config(path: str | Path, schema_path: str | Path) -> dict[str, Any]:
    """Read a YAML config file and validate it (defaults filled in)."""
    with open(path) as handle:
        try:
            config = yaml.safe_load(handle) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
    return validate_config(config, schema_path, source=str(path))


def replace_emptied(config: Mapping[str, Any], overlay: Mapping[str, Any] | None) -> dict[str, Any]:
    """``config`` with every mapping that ``overlay`` sets to an empty mapping (``{}``) emptied.

    Snakemake merges a ``--configfile`` overlay into config.yaml key by key, so an overlay's
    ``routers: {families: {}}`` merges nothing and would leave every family of config.yaml on. The
    Snakefile passes the overlays (Snakemake's merged ``--configfile``/``--config`` values) here, and
    an empty mapping then means what it says: none. ``null`` for a key that allows it, and a list,
    replace as before.
    """
    result = copy.deepcopy(dict(config))

    def walk(target: dict[str, Any], layer: Mapping[str, Any]) -> None:
        for key, value in layer.items():
            if isinstance(value, Mapping) and not value:
                target[key] = {}
            elif isinstance(value, Mapping) and isinstance(target.get(key), dict):
                walk(target[key], value)

    walk(result, overlay or {})
    return result


def _key_path(parts: Iterator[Any] | Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        node: Any = root
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _fill_defaults(instance: Any, schema: dict[str, Any], root: dict[str, Any]) -> None:
    """Fill in ``default`` values of the schema, recursively, in place."""
    schema = _resolve(schema, root)
    if isinstance(instance, dict):
        for key, sub in schema.get("properties", {}).items():
            sub_resolved = _resolve(sub, root)
            if key not in instance and "default" in sub_resolved:
                instance[key] = copy.deepcopy(sub_resolved["default"])
            if key in instance:
                _fill_defaults(instance[key], sub_resolved, root)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, value in instance.items():
                if key not in schema.get("properties", {}):
                    _fill_defaults(value, extra, root)
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for item in instance:
            _fill_defaults(item, schema["items"], root)


def _describe(error: jsonschema.ValidationError) -> str:
    path = _key_path(error.absolute_path)
    if error.validator == "additionalProperties":
        unexpected = re.findall(r"'([^']+)' (?:was|were) unexpected", error.message)
        names = ", ".join(unexpected) or error.message
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        where = "" if path == "(top level)" else f" under {path}"
        hint = f" (allowed: {allowed})" if allowed else ""
        return f"unknown key {names}{where}{hint}"
    if error.validator == "required":
        return f"{path}: {error.message}"
    if error.validator in ("oneOf", "anyOf") and isinstance(error.schema, Mapping) and "description" in error.schema:
        # A choice between keys: the schema says in words what is expected, which jsonschema cannot.
        return f"{path}: {error.schema['description']}"
    if error.validator == "enum":
        return f"{path}: {error.instance!r} is not one of {error.validator_value}"
    return f"{path}: {error.message}"


#: Keys renamed in 0.x, old path -> new path; the old ones keep working for one release.
RENAMED_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("router", "variants"): ("avengers", "variants"),
    ("router", "top_k"): ("avengers", "top_k"),
    ("router", "beta"): ("avengers", "beta"),
    ("router", "alphas"): ("sweep", "alphas"),
    ("router", "max_router"): ("sweep", "max_router"),
    ("router", "validation_ratio"): ("split", "validation_ratio"),
    ("routers", "cv_folds"): ("split", "cv_folds"),
    ("routers", "families"): ("families",),
}


def _overlaid(base: Any, overlay: Any) -> Any:
    """``overlay`` merged into ``base`` key by key, as Snakemake merges a config overlay; an empty
    mapping replaces (see :func:`replace_emptied`).
    """
    if isinstance(base, dict) and isinstance(overlay, dict) and overlay:
        return {**base, **{key: _overlaid(base.get(key), value) for key, value in overlay.items()}}
    return overlay


def upgrade_renamed_keys(config: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``config`` with every renamed key (:data:`RENAMED_KEYS`, ``export[].router``) at its new place.

    An old key is merged over the new one where both are given: Snakemake merges a ``--configfile``
    overlay into config.yaml, so an old-style overlay over a new-style config.yaml has both, and the
    overlay is the more specific. Returns the upgraded copy and one deprecation line per old key.
    """
    upgraded: dict[str, Any] = copy.deepcopy(dict(config))
    notes: list[str] = []
    for old, new in RENAMED_KEYS.items():
        parent = upgraded.get(old[0])
        if not isinstance(parent, dict) or old[1] not in parent:
            continue
        value = parent.pop(old[1])
        target = upgraded
        for part in new[:-1]:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        target[new[-1]] = _overlaid(target.get(new[-1]), value)
        notes.append(f"{'.'.join(old)} is now {'.'.join(new)}")
    for old_parent in {old[0] for old in RENAMED_KEYS}:  # a section the renames emptied goes too
        if isinstance(upgraded.get(old_parent), dict) and not upgraded[old_parent]:
            del upgraded[old_parent]
    for i, entry in enumerate(upgraded.get("export") or []):
        if isinstance(entry, dict) and "router" in entry:
            entry["family"] = entry.pop("router")
            notes.append(f"export[{i}].router is now export[{i}].family")
    return upgraded, notes


def validate_config(
    config: Mapping[str, Any],
    schema_path: str | Path,
    *,
    source: str = "config",
) -> dict[str, Any]:
    """Return a validated copy of ``config`` with the schema's defaults filled in and keys sorted.

    ``schema_path`` is the workflow's ``workflow/schemas/config.schema.yaml``: the workflow passes it
    (the package never guesses where a workflow lives, so it works installed from a wheel too).

    Raises :class:`ConfigError` with one line naming the key at fault.
    """
    schema = load_schema(schema_path)
    config, renamed = upgrade_renamed_keys(config)
    for note in renamed:
        say(f"Warning: {source}: deprecated key: {note}; the old name works until the next release")
    check_secrets(config, source)
    _fill_defaults(config, schema, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(
        validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path)))
    )
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise ConfigError(f"{source}: {_describe(best)}")
    _check_cross_keys(dict(config), source)
    return _sorted_keys(config)


def _sorted_keys(value: Any) -> Any:
    """The same structure with every mapping's keys in sorted order (list order is kept).

    Snakemake detects changed ``params`` by their text, so reordering keys in config.yaml must not
    look like a change.
    """
    if isinstance(value, Mapping):
        return {key: _sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(item) for item in value]
    return value


def _check_cross_keys(config: dict[str, Any], source: str) -> None:
    check_collection(config, source)
    for i, src in enumerate(config["sources"]):
        if src.get("splits") is not None and src["format"] != "llmrouterbench":
            raise ConfigError(f"{source}: sources[{i}].splits: only the llmrouterbench format has splits")
    names = [s["name"] for s in config["sources"]]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(f"{source}: sources: duplicate name(s) {', '.join(duplicated)}")
    paths = [s["path"] for s in config["sources"]]
    duplicated = sorted({p for p in paths if paths.count(p) > 1})
    if duplicated:
        raise ConfigError(f"{source}: sources: the same path is listed twice: {', '.join(duplicated)}")
    for i, src in enumerate(config["sources"]):
        if src["path"].endswith(".pkl") and "sha256" not in src:
            raise ConfigError(
                f"{source}: sources[{i}].sha256: required for a pickle ({src['path']}); "
                "a pickle is never read without a matching checksum"
            )
    alphas = config["sweep"]["alphas"]
    if alphas["start"] > alphas["stop"]:
        raise ConfigError(f"{source}: sweep.alphas: start {alphas['start']} is greater than stop {alphas['stop']}")
    main = config["plots"]["main"]
    if main["variant"] not in config["avengers"]["variants"]:
        raise ConfigError(
            f"{source}: plots.main.variant: {main['variant']!r} is not a name in avengers.variants "
            f"({', '.join(config['avengers']['variants'])})"
        )
    if main["n_clusters"] not in config["clustering"]["n_clusters"]:
        raise ConfigError(
            f"{source}: plots.main.n_clusters: {main['n_clusters']} is not in clustering.n_clusters "
            f"{config['clustering']['n_clusters']}"
        )
    exported = [entry["name"] for entry in config["export"]]
    for i, entry in enumerate(config["export"]):
        if exported.count(entry["name"]) > 1:
            raise ConfigError(f"{source}: export[{i}].name: {entry['name']!r} is used twice")
        if "variant" in entry and entry["variant"] not in config["avengers"]["variants"]:
            raise ConfigError(f"{source}: export[{i}].variant: {entry['variant']!r} is not a name in avengers.variants")
    for name, spec in config["avengers"]["variants"].items():
        if spec.get("weighted") and spec["aggregation"] != "paper":
            raise ConfigError(f"{source}: avengers.variants.{name}.weighted: only applies to the paper aggregation")
    _check_family_grids(config, source)


def _check_family_grids(config: dict[str, Any], source: str) -> None:
    """Build (unfitted) every candidate of every ``families`` grid, so a misspelt or invalid
    hyperparameter fails before any job runs.
    """
    families = config.get("families", {})
    if not families:
        return
    # Imported here: the estimators pull in scikit-learn, which a config without families never needs.
    from avengers_pro.routing import expand_grid, make_estimator

    for family, grid in families.items():
        try:
            candidates = expand_grid(grid) if isinstance(grid, Mapping) else [dict(c) for c in grid]
            for params in candidates:
                make_estimator(family, params)
        except (ConfigError, ValueError) as error:
            message = str(error)
            # make_estimator names the family's grid as families.<family>; anything else gets the prefix.
            if not message.startswith(f"families.{family}"):
                message = f"families.{family}: {message}"
            raise ConfigError(f"{source}: {message}") from None


def alpha_grid(spec: Mapping[str, Any]) -> np.ndarray:
    """The alpha grid of a ``sweep.alphas`` mapping (start, stop, num), rounded so that 0.53 is exactly
    the float 0.53.
    """
    return np.round(np.linspace(spec["start"], spec["stop"], spec["num"]), 10)
