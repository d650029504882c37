# Router families beyond the paper (config families) and the leaderboard of every router.
# Per family, two jobs cover every seed: family_select chooses the hyperparameters on
# validation (the expensive part; its params hold no alpha grid, so a new sweep.alphas does not rerun
# it) and family_route routes the test queries on the config's grid. Changing one family's grid reruns
# that family's jobs, not the other families'. Each family's test sweeps become rows of summary.csv; the
# leaderboard ranks the families with Avengers-Pro, the dataset router and the oracle on summary.csv's
# AIQ cost range and best single model, and metrics.json takes the families' intervals from it. The
# leaderboard's AIQ is the validation hull's: family_route also writes each seed's validation sweep of
# the chosen hyperparameters (fitted without the validation carve-out), and the leaderboard job computes
# the dataset router's.


rule family_select:
    input:
        records="results/records.parquet",
        embeddings=EMBEDDINGS,
        splits=split_files(),
    output:
        selection="results/families/{family}/selection.json",
    log:
        "logs/families/{family}_select.log",
    benchmark:
        "benchmarks/families/{family}_select.tsv"
    wildcard_constraints:
        family=alternatives(ROUTER_FAMILIES) or "(?!)",
    priority: CRITICAL_PATH
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        grid=lambda wildcards: config["families"][wildcards.family],
        cv_folds=config["split"]["cv_folds"],
        models=config["models"],
    script:
        "../scripts/family_select.py"


rule family_route:
    input:
        records="results/records.parquet",
        embeddings=EMBEDDINGS,
        splits=split_files(),
        selection="results/families/{family}/selection.json",
    output:
        sweeps=expand("results/families/{{family}}/seed{seed}.parquet", seed=SEEDS),
        decisions=expand(
            "results/families/{{family}}/decisions_seed{seed}.parquet", seed=SEEDS
        ),
        validation=expand(
            "results/families/{{family}}/validation_seed{seed}.parquet", seed=SEEDS
        ),
    log:
        "logs/families/{family}.log",
    benchmark:
        "benchmarks/families/{family}.tsv"
    wildcard_constraints:
        family=alternatives(ROUTER_FAMILIES) or "(?!)",
    priority: CRITICAL_PATH
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        models=config["models"],
        alphas=config["sweep"]["alphas"],
    script:
        "../scripts/family_route.py"


rule leaderboard:
    input:
        records="results/records.parquet",
        splits=split_files(),
        summary="results/summary.csv",
        family_decisions=family_files("decisions_seed{seed}.parquet"),
        family_validation=family_files("validation_seed{seed}.parquet"),
        selections=family_files("selection.json", per_seed=False),
        decisions=all_sweep_files("decisions"),
        validation=all_sweep_files("sweep_validation"),
        router_cv=expand("results/sweep_oof/{variant}/cv_aiq.parquet", variant=VARIANTS),
        router_decisions=expand(
            "results/decisions/dataset-router/{variant}_seed{seed}.parquet",
            variant=VARIANTS,
            seed=SEEDS,
        ),
    output:
        csv="results/leaderboard.csv",
        md="results/leaderboard.md",
    log:
        "logs/leaderboard.log",
    benchmark:
        "benchmarks/leaderboard.tsv"
    priority: CRITICAL_PATH
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        models=config["models"],
        main=config["plots"]["main"],
        evaluation=config["evaluation"],
        score_label=config["plots"]["score_label"],
        alphas=config["sweep"]["alphas"],
        variants=config["avengers"]["variants"],
    script:
        "../scripts/leaderboard.py"
