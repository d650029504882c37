# The paper's figures and Table 3. Two jobs, split by what they read: plot_summary draws from
# results/summary.csv and the sweeps and runs beside the metrics job; plot_metrics draws the figures
# that need results/metrics.json. Each job pays the matplotlib import once for all its figures, which
# takes longer than drawing one. Which figure is drawn by which job, with which settings, comes from
# the figure registry (avengers_pro.plots.registry); a figure's settings are its job's params, so
# changing a plot setting reruns one or both plot jobs and nothing else.


rule plot_summary:
    input:
        summary="results/summary.csv",
        main_sweeps=main_sweep_files(),
    output:
        **figure_outputs("summary"),
        table=report(
            "results/table.md",
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "Table 3 (Markdown)"},
        ),
        table_tex="results/table.tex",
    log:
        "logs/plot/summary.log",
    benchmark:
        "benchmarks/plot/summary.tsv"
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        figures=figure_settings("summary"),
        table={
            **PLOTS["main"],
            "alphas": PLOTS["table_alphas"],
            "score_label": PLOTS["score_label"],
        },
    script:
        "../scripts/plot.py"


rule plot_metrics:
    input:
        summary="results/summary.csv",
        metrics="results/metrics.json",
        main_sweeps=main_sweep_files(),
        sweeps=all_sweep_files(),
    output:
        **figure_outputs("metrics"),
    log:
        "logs/plot/metrics.log",
    benchmark:
        "benchmarks/plot/metrics.tsv"
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        figures=figure_settings("metrics"),
    script:
        "../scripts/plot.py"
