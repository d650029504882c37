"""Rules plot_summary and plot_metrics: draw every figure named in params.figures (and Table 3).

Each figure is drawn by its registry entry (avengers_pro.plots.registry) into the stem of its
``{figure}`` output; the inputs are read once, when a figure first needs them.
"""

from pathlib import Path

from avengers_pro.plots import tables
from avengers_pro.plots.registry import PlotInputs, figure
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
inputs, outputs = snakemake.input, snakemake.output
plot_inputs = PlotInputs(inputs.summary, inputs.main_sweeps, inputs.get("metrics"), inputs.get("sweeps", []))
for name, settings in snakemake.params.figures.items():
    figure(name).draw(plot_inputs, settings, Path(outputs[name]).with_suffix(""))
    log.info("wrote %s and its PDF", outputs[name])
if hasattr(outputs, "table"):  # only plot_summary writes Table 3
    settings = snakemake.params.table
    tables.write_tables(
        plot_inputs.summary,
        outputs.table,
        outputs.table_tex,
        variant=settings["variant"],
        n_clusters=int(settings["n_clusters"]),
        alphas=list(settings["alphas"]),
        score_label=settings["score_label"],
    )
    log.info("wrote %s and %s", outputs.table, outputs.table_tex)
