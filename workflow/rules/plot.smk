# The paper's figures and Table 3. Two jobs, split by what they read: plot_summary draws from
# results/summary.csv and the sweeps and runs beside the metrics job; plot_metrics draws the figures
# that need results/metrics.json. Each job pays the matplotlib import once for all its figures, which
# takes longer than drawing one. A figure's settings sit in its job's params, so changing a plot
# setting reruns one or both plot jobs and nothing else. Logic: avengers_pro.plots / .tables; what each
# job draws: workflow/scripts/plot.py.


rule plot_summary:
    input:
        summary="results/summary.csv",
        main_sweeps=main_sweep_files(),
    output:
        pareto=report(
            "figures/pareto.png",
            caption="../report/pareto.rst",
            category="Figures",
            labels={"figure": "1A Pareto: accuracy vs cost"},
        ),
        pareto_pdf="figures/pareto.pdf",
        model_usage=report(
            "figures/model_usage.png",
            caption="../report/model_usage.rst",
            category="Figures",
            labels={"figure": "3 Model usage vs alpha"},
        ),
        model_usage_pdf="figures/model_usage.pdf",
        variants=report(
            "figures/variants.png",
            caption="../report/variants.rst",
            category="Figures",
            labels={"figure": "Variants: paper vs official"},
        ),
        variants_pdf="figures/variants.pdf",
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
        figures={
            "pareto": {**PLOTS["main"], "log_cost": PLOTS["log_cost"]},
            "model_usage": {"alphas": PLOTS["usage_alphas"]},
            "variants": {
                "n_clusters": PLOTS["main"]["n_clusters"],
                "log_cost": PLOTS["log_cost"],
            },
            "table": {**PLOTS["main"], "alphas": PLOTS["table_alphas"]},
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
        headline=report(
            "figures/headline.png",
            caption="../report/headline.rst",
            category="Figures",
            labels={"figure": "1B Headline: best single vs Avengers-Pro"},
        ),
        headline_pdf="figures/headline.pdf",
        alpha_sweep=report(
            "figures/alpha_sweep.png",
            caption="../report/alpha_sweep.rst",
            category="Figures",
            labels={"figure": "2 Accuracy and cost vs alpha"},
        ),
        alpha_sweep_pdf="figures/alpha_sweep.pdf",
        cluster_ablation=report(
            "figures/cluster_ablation.png",
            caption="../report/cluster_ablation.rst",
            category="Figures",
            labels={"figure": "Ablation: number of clusters"},
        ),
        cluster_ablation_pdf="figures/cluster_ablation.pdf",
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
        # every figure here reads the metrics.json entry of the main variant and cluster count
        figures={name: PLOTS["main"] for name in ("headline", "alpha_sweep", "cluster_ablation")},
    script:
        "../scripts/plot.py"
