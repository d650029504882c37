# Aggregation over seeds (summary.csv, with the router families' rows) and the metrics with their
# bootstrap intervals (metrics.json, the families' taken from the leaderboard: summary -> leaderboard ->
# metrics).


rule summary:
    input:
        sweeps=all_sweep_files(),
        baselines=expand("results/baselines/seed{seed}.parquet", seed=SEEDS),
        family_sweeps=family_files("seed{seed}.parquet"),
        selections=family_files("selection.json", per_seed=False),
    output:
        summary="results/summary.csv",
    log:
        "logs/summary.log",
    benchmark:
        "benchmarks/summary.tsv"
    priority: CRITICAL_PATH
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    script:
        "../scripts/summary.py"


# With router families, metrics.json takes their bootstrap intervals from the leaderboard (which reads
# summary.csv, not metrics.json: no cycle).
rule metrics:
    input:
        summary="results/summary.csv",
        records="results/records.parquet",
        splits=split_files(),
        sweeps=all_sweep_files(),
        validation=all_sweep_files("sweep_validation"),
        oof=all_sweep_files("sweep_oof"),
        decisions=all_sweep_files("decisions"),
        router_decisions=expand(
            "results/decisions/dataset-router/{variant}_seed{seed}.parquet",
            variant=VARIANTS,
            seed=SEEDS,
        ),
        leaderboard=["results/leaderboard.csv"] if ROUTER_FAMILIES else [],
    output:
        metrics="results/metrics.json",
    log:
        "logs/metrics.log",
    benchmark:
        "benchmarks/metrics.tsv"
    priority: CRITICAL_PATH
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        evaluation=config["evaluation"],
        models=config["models"],
        alphas=config["sweep"]["alphas"],
        variants=config["avengers"]["variants"],
        # Names the leaderboard's references; without families nothing reads it, so no rerun then.
        main=PLOTS["main"] if ROUTER_FAMILIES else None,
    script:
        "../scripts/metrics.py"
