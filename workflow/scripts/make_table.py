"""Rule table: results/table.md and results/table.tex (paper Table 3)."""

from avengers_pro import plots, tables
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
summary = plots.load_summary(snakemake.input.summary)
tables.write_tables(
    summary,
    snakemake.output.markdown,
    snakemake.output.latex,
    variant=snakemake.params.variant,
    n_clusters=int(snakemake.params.n_clusters),
    alphas=list(snakemake.params.alphas),
)
log.info("wrote %s and %s", snakemake.output.markdown, snakemake.output.latex)
