"""Config validation: defaults from the schema, one clear line naming the key at fault."""

import copy
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from avengers_pro.config import alpha_grid, load_config, load_schema, validate_config
from avengers_pro.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
BASE = yaml.safe_load((ROOT / "config.yaml").read_text())


def test_default_config_is_valid_and_gets_defaults():
    config = load_config(ROOT / "config.yaml", SCHEMA)
    assert config["router"]["top_k"] == 3
    assert config["embedding"]["backend"] == "sentence-transformers"
    minimal = validate_config({"sources": BASE["sources"]}, SCHEMA)
    assert minimal["split"]["seeds"] == [0, 1, 2, 3, 4]
    assert minimal["clustering"]["n_clusters"] == [8, 16, 25, 32, 64]
    assert set(minimal["router"]["variants"]) == {"paper", "official"}
    # The paper variant finds clusters by KMeans' Euclidean rule; the official one keeps the dot distance.
    for variants in (config["router"]["variants"], minimal["router"]["variants"]):
        assert variants["paper"]["distance"] == "euclidean"
        assert variants["official"]["distance"] == "dot"
    assert minimal["missing"] == "drop-query"


def test_the_tiny_scenario_config_is_valid():
    """The end-to-end scenario validates, keeps its small grids, gets the defaults for what it leaves
    out, and its main plot names a variant and a cluster count that the run produces."""
    config = validate_config(yaml.safe_load((ROOT / ".test" / "config.yaml").read_text()), SCHEMA)
    assert config["split"]["seeds"] == [0, 1]
    assert config["clustering"]["n_clusters"] == [2, 4]
    assert config["router"]["alphas"] == {"start": 0.0, "stop": 1.0, "num": 11}
    assert config["sources"] == [{"name": "tiny", "format": "records", "path": "data/records.csv", "splits": None}]
    assert config["split"]["train_ratio"] == 0.7  # a default filled in
    assert set(config["router"]["variants"]) == {"paper", "official"}  # the default variants
    main = config["plots"]["main"]
    assert main["variant"] in config["router"]["variants"]
    assert main["n_clusters"] in config["clustering"]["n_clusters"]


def _schema_properties(node, path=""):
    for key, sub in node.get("properties", {}).items():
        yield f"{path}{key}", sub
        yield from _schema_properties(sub, f"{path}{key}.")


def test_every_schema_key_has_a_description():
    schema = load_schema(SCHEMA)
    missing = [key for key, sub in _schema_properties(schema) if "description" not in sub]
    assert missing == []


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c.update(colour="red"), "unknown key colour"),
        (lambda c: c["router"].update(topk=3), "unknown key topk under router"),
        (lambda c: c["split"].update(train_ratio=1.5), "split.train_ratio"),
        (lambda c: c["clustering"].update(n_clusters=[0]), r"clustering.n_clusters\[0\]"),
        (
            lambda c: c["router"]["variants"]["paper"].update(normalisation="zscore"),
            "router.variants.paper.normalisation",
        ),
        (lambda c: c["sources"][0].pop("sha256"), r"sources\[0\]: 'sha256' is a required property"),
        (lambda c: c["sources"][1].update(name=c["sources"][0]["name"]), "duplicate name"),
        (lambda c: c["plots"]["main"].update(variant="nope"), "plots.main.variant"),
        (lambda c: c.update(missing="ignore"), "missing: 'ignore' is not one of"),
        (lambda c: c["router"]["alphas"].update(start=0.9, stop=0.1), "router.alphas"),
    ],
)
def test_bad_values_name_the_key(mutate, message):
    config = copy.deepcopy(BASE)
    mutate(config)
    with pytest.raises(ConfigError, match=message):
        validate_config(config, SCHEMA)


def test_alpha_grid_is_101_exact_steps():
    grid = alpha_grid(validate_config({"sources": BASE["sources"]}, SCHEMA))
    assert len(grid) == 101 and grid[0] == 0.0 and grid[-1] == 1.0
    assert 0.53 in grid and np.all(np.diff(grid) > 0)


def test_key_order_does_not_matter():
    reordered = {key: BASE[key] for key in reversed(list(BASE))}
    reordered["router"] = {key: BASE["router"][key] for key in reversed(list(BASE["router"]))}
    assert repr(validate_config(reordered, SCHEMA)) == repr(validate_config(BASE, SCHEMA))


def test_router_family_defaults_are_the_package_grids():
    """The schema's routers.families default and config.yaml are avengers_pro.routing.DEFAULT_GRIDS."""
    from avengers_pro.routing import DEFAULT_GRIDS, expand_grid

    def candidates(grid):
        listed = expand_grid(grid) if isinstance(grid, dict) else [dict(c) for c in grid]
        return [str(sorted(c.items())) for c in listed]

    expected = {family: candidates(DEFAULT_GRIDS[family]) for family in ("knn", "logistic", "task", "shrinkage")}
    default = load_schema(SCHEMA)["properties"]["routers"]["properties"]["families"]["default"]
    shipped = load_config(ROOT / "config.yaml", SCHEMA)["routers"]["families"]
    for families in (default, shipped):
        assert {f: sorted(candidates(g)) for f, g in families.items()} == {f: sorted(c) for f, c in expected.items()}


@pytest.mark.parametrize(
    ("families", "message"),
    [
        ({"knn": {"n_neighbours": [3]}}, "routers.families.knn: KNNRouter.__init__"),
        ({"shrinkage": [{"base": "neighbors", "tau": "eb"}]}, "routers.families.shrinkage.tau"),
        ({"bogus": {"a": [1]}}, "'bogus' is not one of"),
        ({"knn": {"n_neighbors": []}}, "routers.families.knn.n_neighbors"),
    ],
)
def test_bad_router_grids_fail_with_the_key_named(families, message):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["routers"] = {"families": families}
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(config, SCHEMA)


def test_an_empty_families_mapping_disables_the_comparison():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["routers"] = {"families": {}}
    assert validate_config(config, SCHEMA)["routers"] == {"cv_folds": 5, "families": {}}


# --------------------------------------------------------------------------- schema enums = code registries


def _export_entry() -> dict:
    return load_schema(SCHEMA)["properties"]["export"]["items"]["properties"]


def test_the_schema_source_formats_are_the_readers():
    """sources[].format lists exactly the formats records.read_source reads."""
    from avengers_pro.records import FORMATS

    schema = load_schema(SCHEMA)
    source = schema["$defs"][schema["properties"]["sources"]["items"]["$ref"].rsplit("/", 1)[1]]
    assert sorted(source["properties"]["format"]["enum"]) == sorted(FORMATS)


def test_the_schema_families_are_the_family_registry():
    """routers.families names every family of routing.FAMILIES but Avengers-Pro (its grid is the
    router.variants x clustering.n_clusters sweep); export[].router names them all, and the export's
    best-on-validation choice."""
    from avengers_pro.export.families import AVENGERS_PRO, BEST_ON_VALIDATION
    from avengers_pro.routing import FAMILIES

    families = load_schema(SCHEMA)["properties"]["routers"]["properties"]["families"]["propertyNames"]["enum"]
    assert sorted(families) == sorted(set(FAMILIES) - {AVENGERS_PRO})
    assert sorted(_export_entry()["router"]["enum"]) == sorted([*FAMILIES, BEST_ON_VALIDATION])


def test_the_schema_export_targets_are_the_alpha_targets():
    """export[].target lists exactly the targets an export's alpha choice implements."""
    from avengers_pro.export.fit import TARGETS

    assert sorted(_export_entry()["target"]["enum"]) == sorted(TARGETS)
