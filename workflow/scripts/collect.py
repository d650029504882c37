"""Rule collect: one benchmark x one endpoint -> results/collected/bench/{benchmark}/{split}/{endpoint}/."""

from avengers_pro.collect.runner import run_collect_job
from avengers_pro.runlog import start_job

start_job(snakemake.log[0], snakemake.threads)
run_collect_job(
    snakemake.config,
    snakemake.wildcards.benchmark,
    snakemake.wildcards.endpoint,
    benchmark_path=snakemake.input.benchmark,
    output=snakemake.output.run,
)
