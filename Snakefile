# Avengers-Pro: cost-aware LLM routing, as a Snakemake DAG.
#
# Outputs (all under the working directory):
#   results/collected/bench/{benchmark}/{split}/{endpoint}/        answers collected from endpoints (rule collect)
#   results/records.parquet, queries.parquet, ingest_report.json   canonical records (rule ingest)
#   results/embeddings/{embedder}.parquet                           query embeddings (rule embed)
#   results/splits/seed{seed}.parquet                               train/test(/validation) split (rule split)
#   results/clusters/k{k}_seed{seed}*                               KMeans on train embeddings (rule cluster)
#   results/sweep/{variant}/k{k}_seed{seed}.parquet                 the alpha sweep (rule sweep)
#   results/baselines/seed{seed}.parquet                            single models, random, oracles, dataset router
#   results/summary.csv, results/metrics.json                       aggregated over seeds
#   figures/*.png|pdf, results/table.md|tex                         the paper's figures and Table 3
#   results/exports/{name}/                                          exported routers for new queries
#   results/families/{family}/, results/leaderboard.csv|md            router families and the ranked leaderboard
# File formats: docs/architecture.md. Logic: the avengers_pro package (src/); the rules only wire it.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


import sys
import time
from functools import partial
from pathlib import Path

from avengers_pro.console import report_failures
from avengers_pro.config import replace_emptied, validate_config
from avengers_pro.errors import ConfigError

# The config is validated once, against the workflow's schema (defaults filled in); a bad config
# gets one clear line on the console and no traceback.
# An empty mapping in a --configfile overlay (routers: {families: {}}) replaces the mapping it
# overlays, which Snakemake's nested merge would otherwise keep.
try:
    validated = validate_config(
        replace_emptied(config, workflow.config_settings.overwrite_config),
        Path(workflow.basedir) / "workflow/schemas/config.schema.yaml",
        source="config",
    )
except ConfigError as error:
    print(f"Error: {error}", file=sys.stderr)
    sys.exit(1)
config.clear()
config.update(validated)

# When a job fails on bad data, its one-line message (and a note on stale results) is the last thing
# on the console; the traceback stays in the job's log.
WORKFLOW_STARTED = time.time()
# (A partial, not a lambda: a frame of the Snakefile in the traceback would make Snakemake print it.)
workflow.onerror(partial(report_failures, WORKFLOW_STARTED))


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    seed=alternatives(SEEDS),
    k=alternatives(CLUSTER_COUNTS),
    variant=alternatives(VARIANTS),
    name=alternatives(EXPORT_NAMES) or "(?!)",


include: "workflow/rules/collect.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/split.smk"
include: "workflow/rules/cluster.smk"
include: "workflow/rules/route.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/plot.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/families.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
