"""Rule ingest: every source -> results/records.parquet, queries.parquet, ingest_report.json."""

from avengers_pro.console import say
from avengers_pro.io import write_json, write_parquet
from avengers_pro.records import ingest, summary_line
from avengers_pro.runlog import start_job

start_job(snakemake.log[0], snakemake.threads)
records, queries, report = ingest(
    snakemake.params.sources,
    models=snakemake.params.models or None,
    datasets=snakemake.params.datasets or None,
    missing=snakemake.params.missing,
    prices=snakemake.params.prices,
)
write_parquet(records, snakemake.output.records)
write_parquet(queries, snakemake.output.queries)
write_json(report, snakemake.output.report)
say(summary_line(report))
for warning in report["warnings"]:
    say(f"Warning: {warning}")
