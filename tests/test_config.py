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
    assert config["avengers"]["top_k"] == 3
    assert config["embedding"]["backend"] == "sentence-transformers"
    minimal = validate_config({"sources": BASE["sources"]}, SCHEMA)
    assert minimal["split"]["seeds"] == [0, 1, 2, 3, 4]
    assert minimal["clustering"]["n_clusters"] == [8, 16, 25, 32, 64]
    assert set(minimal["avengers"]["variants"]) == {"paper", "official"}
    # The paper variant finds clusters by KMeans' Euclidean rule; the official one keeps the dot distance.
    for variants in (config["avengers"]["variants"], minimal["avengers"]["variants"]):
        assert variants["paper"]["distance"] == "euclidean"
        assert variants["official"]["distance"] == "dot"
    assert minimal["missing"] == "drop-query"


def test_the_tiny_scenario_config_is_valid():
    """The end-to-end scenario validates, keeps its small grids, gets the defaults for what it leaves
    out, and its main plot names a variant and a cluster count that the run produces."""
    config = validate_config(yaml.safe_load((ROOT / ".test" / "config.yaml").read_text()), SCHEMA)
    assert config["split"]["seeds"] == [0, 1]
    assert config["clustering"]["n_clusters"] == [2, 4]
    assert config["sweep"]["alphas"] == {"start": 0.0, "stop": 1.0, "num": 11}
    assert config["sources"] == [{"name": "tiny", "format": "records", "path": "data/records.csv", "splits": None}]
    assert config["split"]["train_ratio"] == 0.7  # a default filled in
    assert set(config["avengers"]["variants"]) == {"paper", "official"}  # the default variants
    main = config["plots"]["main"]
    assert main["variant"] in config["avengers"]["variants"]
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
        (lambda c: c["avengers"].update(topk=3), "unknown key topk under avengers"),
        (lambda c: c["split"].update(train_ratio=1.5), "split.train_ratio"),
        (lambda c: c["clustering"].update(n_clusters=[0]), r"clustering.n_clusters\[0\]"),
        (
            lambda c: c["avengers"]["variants"]["paper"].update(normalisation="zscore"),
            "avengers.variants.paper.normalisation",
        ),
        (lambda c: c["sources"][0].pop("sha256"), r"sources\[0\]: 'sha256' is a required property"),
        (lambda c: c["sources"][1].update(name=c["sources"][0]["name"]), "duplicate name"),
        (lambda c: c["plots"]["main"].update(variant="nope"), "plots.main.variant"),
        (lambda c: c.update(missing="ignore"), "missing: 'ignore' is not one of"),
        (lambda c: c["sweep"]["alphas"].update(start=0.9, stop=0.1), "sweep.alphas"),
    ],
)
def test_bad_values_name_the_key(mutate, message):
    config = copy.deepcopy(BASE)
    mutate(config)
    with pytest.raises(ConfigError, match=message):
        validate_config(config, SCHEMA)


def test_alpha_grid_is_101_exact_steps():
    grid = alpha_grid(validate_config({"sources": BASE["sources"]}, SCHEMA)["sweep"]["alphas"])
    assert len(grid) == 101 and grid[0] == 0.0 and grid[-1] == 1.0
    assert 0.53 in grid and np.all(np.diff(grid) > 0)


def test_key_order_does_not_matter():
    reordered = {key: BASE[key] for key in reversed(list(BASE))}
    reordered["avengers"] = {key: BASE["avengers"][key] for key in reversed(list(BASE["avengers"]))}
    assert repr(validate_config(reordered, SCHEMA)) == repr(validate_config(BASE, SCHEMA))


def test_family_defaults_are_the_package_grids():
    """The schema's families default and config.yaml are avengers_pro.routing.DEFAULT_GRIDS."""
    from avengers_pro.routing import DEFAULT_GRIDS, expand_grid

    def candidates(grid):
        listed = expand_grid(grid) if isinstance(grid, dict) else [dict(c) for c in grid]
        return [str(sorted(c.items())) for c in listed]

    expected = {family: candidates(DEFAULT_GRIDS[family]) for family in ("knn", "logistic", "task", "shrinkage")}
    default = load_schema(SCHEMA)["properties"]["families"]["default"]
    shipped = load_config(ROOT / "config.yaml", SCHEMA)["families"]
    for families in (default, shipped):
        assert {f: sorted(candidates(g)) for f, g in families.items()} == {f: sorted(c) for f, c in expected.items()}


@pytest.mark.parametrize(
    ("families", "message"),
    [
        ({"knn": {"n_neighbours": [3]}}, "families.knn: KNNRouter.__init__"),
        ({"shrinkage": [{"base": "neighbors", "tau": "eb"}]}, "families.shrinkage.tau"),
        ({"bogus": {"a": [1]}}, "'bogus' is not one of"),
        ({"knn": {"n_neighbors": []}}, "families.knn.n_neighbors"),
    ],
)
def test_bad_family_grids_fail_with_the_key_named(families, message):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["families"] = families
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(config, SCHEMA)


def test_an_empty_families_mapping_disables_the_comparison():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["families"] = {}
    assert validate_config(config, SCHEMA)["families"] == {}


def test_renamed_keys_still_work_with_one_warning_line_each(capsys):
    old_style = copy.deepcopy(BASE)
    new = {key: old_style.pop(key) for key in ("avengers", "sweep", "families")}
    old_style["router"] = {
        **new["avengers"],
        **new["sweep"],
        "validation_ratio": old_style["split"].pop("validation_ratio"),
    }
    old_style["routers"] = {"families": new["families"], "cv_folds": old_style["split"].pop("cv_folds")}
    old_style["export"] = [
        {("router" if key == "family" else key): value for key, value in entry.items()} for entry in BASE["export"]
    ]
    upgraded = validate_config(old_style, SCHEMA)
    assert upgraded == validate_config(BASE, SCHEMA)
    warnings = [line for line in capsys.readouterr().err.splitlines() if "deprecated key" in line]
    assert len(warnings) == 9  # eight keys of router/routers, and export[1].router
    assert "config: deprecated key: router.alphas is now sweep.alphas" in "\n".join(warnings)
    assert "export[1].router is now export[1].family" in "\n".join(warnings)


def test_an_old_key_in_an_overlay_is_merged_over_the_new_one():
    config = copy.deepcopy(BASE)
    config["routers"] = {"families": {"knn": {"n_neighbors": [5]}}}  # as an old overlay merges it
    config["router"] = {"alphas": {"num": 11}}
    validated = validate_config(config, SCHEMA)
    assert validated["families"]["knn"] == {"n_neighbors": [5]}
    assert set(validated["families"]) == set(BASE["families"])  # the other families are kept
    assert validated["sweep"]["alphas"] == {"start": 0.0, "stop": 1.0, "num": 11}
    assert "router" not in validated and "routers" not in validated
    emptied = copy.deepcopy(BASE)
    emptied["routers"] = {"families": {}}
    assert validate_config(emptied, SCHEMA)["families"] == {}


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
    """families names every family of routing.FAMILIES but Avengers-Pro (its grid is the
    avengers.variants x clustering.n_clusters sweep); export[].family names them all, and the export's
    best-on-validation choice."""
    from avengers_pro.export.families import AVENGERS_PRO, BEST_ON_VALIDATION
    from avengers_pro.routing import FAMILIES

    families = load_schema(SCHEMA)["properties"]["families"]["propertyNames"]["enum"]
    assert sorted(families) == sorted(set(FAMILIES) - {AVENGERS_PRO})
    assert sorted(_export_entry()["family"]["enum"]) == sorted([*FAMILIES, BEST_ON_VALIDATION])


def test_the_schema_export_targets_are_the_alpha_targets():
    """export[].target lists exactly the targets an export's alpha choice implements."""
    from avengers_pro.export.settings import TARGETS

    assert sorted(_export_entry()["target"]["enum"]) == sorted(TARGETS)
