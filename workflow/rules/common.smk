# Helpers shared by the workflow modules: names derived from the config, target lists, input functions.
import re
from pathlib import Path

from avengers_pro.collect.settings import collect_spec, collected_sources
from avengers_pro.embeddings import embedder_id
from avengers_pro.export.settings import job_config
from avengers_pro.plots.registry import FIGURE_EXTENSIONS, FIGURE_NAMES, figures_of

SEEDS = config["split"]["seeds"]
CLUSTER_COUNTS = config["clustering"]["n_clusters"]
VARIANTS = list(config["avengers"]["variants"])
EMBEDDER = embedder_id(config["embedding"])
# Only sources that still have to be fetched get a download job: a file already in place (downloaded
# earlier or copied by hand) is never scheduled again, so no rerun trigger can ever delete it.
URL_SOURCES = {
    src["path"]: src
    for src in config["sources"]
    if "url" in src and not Path(src["path"]).exists()
}
BENCHMARKS = {entry["name"]: entry for entry in config["benchmarks"]}
ENDPOINTS = {entry["name"]: entry for entry in config["endpoints"]}
# What ingest reads: the configured sources, then one collected result file per (benchmark, endpoint).
ALL_SOURCES = [*config["sources"], *collected_sources(config)]
PLOTS = config["plots"]
# Router families compared on the pipeline's splits (empty: no comparison, no leaderboard).
ROUTER_FAMILIES = list(config["families"])
# Priority of the jobs on the way from the clusters to metrics.json (sweep, baselines, the router
# families and the leaderboard, summary, metrics): when more jobs are ready than there are cores, these
# go first, so the plots that wait for metrics.json are not held up behind jobs that have time to spare
# (the export).
CRITICAL_PATH = 1


def alternatives(values):
    return "|".join(re.escape(str(v)) for v in values)


EMBEDDINGS = f"results/embeddings/{EMBEDDER}.parquet"


def split_files():
    return expand("results/splits/seed{seed}.parquet", seed=SEEDS)


def sweep_files(variant, k):
    """Test-split sweep tables of one (variant, k), one per seed."""
    return expand(
        "results/sweep/{variant}/k{k}_seed{seed}.parquet",
        variant=variant,
        k=k,
        seed=SEEDS,
    )


def family_files(name, per_seed=True):
    """``results/families/{family}/{name}`` of every router family, for every seed when ``name`` has
    ``{seed}`` (none when ``families`` is empty)."""
    seeds = {"seed": SEEDS} if per_seed else {}
    return expand(
        f"results/families/{{family}}/{name}", family=ROUTER_FAMILIES, **seeds
    )


def every_k_and_seed(pattern):
    """``pattern`` for every (k, seed), k slowest: the order of the sweep rule's params.runs. Other
    wildcards stay (write them doubled: {{variant}})."""
    return expand(pattern, k=CLUSTER_COUNTS, seed=SEEDS)


def all_sweep_files(kind="sweep"):
    return expand(
        "results/{kind}/{variant}/k{k}_seed{seed}.parquet",
        kind=kind,
        variant=VARIANTS,
        k=CLUSTER_COUNTS,
        seed=SEEDS,
    )


def final_outputs():
    return [
        "results/records.parquet",
        "results/queries.parquet",
        "results/ingest_report.json",
        EMBEDDINGS,
        *split_files(),
        *expand(
            "results/clusters/k{k}_seed{seed}.parquet", k=CLUSTER_COUNTS, seed=SEEDS
        ),
        *all_sweep_files(),
        *expand("results/baselines/seed{seed}.parquet", seed=SEEDS),
        "results/summary.csv",
        "results/metrics.json",
        *expand("figures/{figure}.{ext}", figure=FIGURE_NAMES, ext=FIGURE_EXTENSIONS),
        "results/table.md",
        "results/table.tex",
        *expand("results/exports/{name}/manifest.json", name=EXPORT_NAMES),
        *(
            ["results/leaderboard.csv", "results/leaderboard.md"]
            if ROUTER_FAMILIES
            else []
        ),
    ]


def download_source(wildcards):
    """The config entry of the source a download job fetches."""
    return URL_SOURCES[wildcards.download_path]


def variant_spec(wildcards):
    """The config entry of the router variant a sweep job runs."""
    return config["avengers"]["variants"][wildcards.variant]


def main_sweep_files():
    """The test sweeps of the main variant and cluster count (config plots.main), one per seed."""
    main = config["plots"]["main"]
    return sweep_files(main["variant"], main["n_clusters"])


EXPORT_NAMES = [entry["name"] for entry in config["export"]]
# An export entry is an Avengers-Pro router (variant, n_clusters) or a family named by `family:`
# (or best-on-validation); each kind has its two jobs in export.smk.
CLUSTER_EXPORTS = [entry["name"] for entry in config["export"] if "family" not in entry]
FAMILY_EXPORTS = [entry["name"] for entry in config["export"] if "family" in entry]
ROUTER_FILES = ["centroids.npy", "statistics.parquet", "router.json", "embedder.json"]
# The files every router folder has beside its manifest (a family export's winner decides the rest).
COMMON_ROUTER_FILES = ["router.json", "embedder.json"]


def export_entry(wildcards):
    """The config entry of the router an export job writes."""
    return next(entry for entry in config["export"] if entry["name"] == wildcards.name)


def export_job_config(job):
    """An input function: the part of the config export job ``job`` reads for the entry it writes,
    and nothing else (``export.settings.job_config``, the one list of those keys), so a setting the
    job does not read never reruns it."""
    return lambda wildcards: job_config(job, config, export_entry(wildcards))


def figure_outputs(job):
    """The outputs of a plot job: ``{name}`` (the PNG, in the report with its caption) and
    ``{name}_pdf`` for every figure the registry gives that job."""
    outputs = {}
    for spec in figures_of(job):
        outputs[spec.name] = report(
            f"figures/{spec.name}.png",
            caption=f"../report/{spec.name}.rst",
            category="Figures",
            labels={"figure": spec.title},
        )
        outputs[f"{spec.name}_pdf"] = f"figures/{spec.name}.pdf"
    return outputs


def figure_settings(job):
    """Each figure's settings from the config's plots block (the plot job's params)."""
    return {spec.name: spec.settings_of(PLOTS) for spec in figures_of(job)}


def collect_job_spec(wildcards):
    """What decides one collect job's records (its rerun trigger; concurrency and retries are not)."""
    return collect_spec(config, wildcards.benchmark, wildcards.endpoint)


def benchmark_file(wildcards):
    return BENCHMARKS[wildcards.benchmark]["path"]
