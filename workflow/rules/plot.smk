# The paper's figures and Table 3, from results/summary.csv, results/metrics.json and the sweeps.
# One rule per output; each takes from the config only what it draws, so changing one plot setting
# (say plots.usage_alphas) reruns only the rule that uses it. Logic: avengers_pro.plots / .tables.


rule plot_pareto:
    input:
        summary="results/summary.csv",
    output:
        png=report(
            "figures/pareto.png",
            caption="../report/pareto.rst",
            category="Figures",
            labels={"figure": "1A Pareto: accuracy vs cost"},
        ),
        pdf="figures/pareto.pdf",
    log:
        "logs/plot/pareto.log",
    benchmark:
        "benchmarks/plot/pareto.tsv"
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        variant=config["plots"]["main"]["variant"],
        n_clusters=config["plots"]["main"]["n_clusters"],
        log_cost=config["plots"]["log_cost"],
    script:
        "../scripts/plot_pareto.py"


rule plot_headline:
    input:
        summary="results/summary.csv",
        metrics="results/metrics.json",
    output:
        png=report(
            "figures/headline.png",
            caption="../report/headline.rst",
            category="Figures",
            labels={"figure": "1B Headline: best single vs Avengers-Pro"},
        ),
        pdf="figures/headline.pdf",
    log:
        "logs/plot/headline.log",
    benchmark:
        "benchmarks/plot/headline.tsv"
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        variant=config["plots"]["main"]["variant"],
        n_clusters=config["plots"]["main"]["n_clusters"],
    script:
        "../scripts/plot_headline.py"


rule plot_alpha_sweep:
    input:
        summary="results/summary.csv",
        metrics="results/metrics.json",
        sweeps=main_sweep_files(),
    output:
        png=report(
            "figures/alpha_sweep.png",
            caption="../report/alpha_sweep.rst",
            category="Figures",
            labels={"figure": "2 Accuracy and cost vs alpha"},
        ),
        pdf="figures/alpha_sweep.pdf",
    log:
        "logs/plot/alpha_sweep.log",
    benchmark:
        "benchmarks/plot/alpha_sweep.tsv"
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        variant=config["plots"]["main"]["variant"],
        n_clusters=config["plots"]["main"]["n_clusters"],
    script:
        "../scripts/plot_alpha_sweep.py"


rule plot_model_usage:
    input:
        summary="results/summary.csv",
        sweeps=main_sweep_files(),
    output:
        png=report(
            "figures/model_usage.png",
            caption="../report/model_usage.rst",
            category="Figures",
            labels={"figure": "3 Model usage vs alpha"},
        ),
        pdf="figures/model_usage.pdf",
    log:
        "logs/plot/model_usage.log",
    benchmark:
        "benchmarks/plot/model_usage.tsv"
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        alphas=config["plots"]["usage_alphas"],
    script:
        "../scripts/plot_model_usage.py"


rule plot_cluster_ablation:
    input:
        summary="results/summary.csv",
        metrics="results/metrics.json",
        sweeps=all_sweep_files(),
    output:
        png=report(
            "figures/cluster_ablation.png",
            caption="../report/cluster_ablation.rst",
            category="Figures",
            labels={"figure": "Ablation: number of clusters"},
        ),
        pdf="figures/cluster_ablation.pdf",
    log:
        "logs/plot/cluster_ablation.log",
    benchmark:
        "benchmarks/plot/cluster_ablation.tsv"
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        # only to pick the metrics.json entry that names the best single model (the same in every entry)
        variant=config["plots"]["main"]["variant"],
        n_clusters=config["plots"]["main"]["n_clusters"],
    script:
        "../scripts/plot_cluster_ablation.py"


rule plot_variants:
    input:
        summary="results/summary.csv",
    output:
        png=report(
            "figures/variants.png",
            caption="../report/variants.rst",
            category="Figures",
            labels={"figure": "Variants: paper vs official"},
        ),
        pdf="figures/variants.pdf",
    log:
        "logs/plot/variants.log",
    benchmark:
        "benchmarks/plot/variants.tsv"
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        n_clusters=config["plots"]["main"]["n_clusters"],
        log_cost=config["plots"]["log_cost"],
    script:
        "../scripts/plot_variants.py"


rule table:
    input:
        summary="results/summary.csv",
    output:
        markdown=report(
            "results/table.md",
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "Table 3 (Markdown)"},
        ),
        latex="results/table.tex",
    log:
        "logs/plot/table.log",
    benchmark:
        "benchmarks/plot/table.tsv"
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        variant=config["plots"]["main"]["variant"],
        n_clusters=config["plots"]["main"]["n_clusters"],
        alphas=config["plots"]["table_alphas"],
    script:
        "../scripts/make_table.py"
