# The alpha sweep: one job per variant covers every cluster count, every seed and every alpha (one
# vectorised pass each). Routing is cheap next to starting a job (Python, pandas and the sweep modules
# take more CPU time to import than the 50 sweeps of the default config take to run), so one job per
# variant keeps a rerun after a change of sweep.alphas short; adding a cluster count reruns the
# variant's sweeps, a few seconds. The same job routes each cross-validation fold of train with the
# router fitted on the other folds (results/clusters/folds/): the pooled out-of-fold sweep per (k, seed),
# on which alpha is chosen, and each fold's held-out AIQ, by which the leaderboard chooses k.


rule sweep:
    input:
        records="results/records.parquet",
        embeddings=EMBEDDINGS,
        splits=split_files(),
        labels=every_k_and_seed("results/clusters/k{k}_seed{seed}.parquet"),
        centroids=every_k_and_seed("results/clusters/k{k}_seed{seed}_centroids.npy"),
        validation_labels=every_k_and_seed(
            "results/clusters/validation/k{k}_seed{seed}.parquet"
        ),
        validation_centroids=every_k_and_seed(
            "results/clusters/validation/k{k}_seed{seed}_centroids.npy"
        ),
        folds=every_k_and_seed("results/clusters/folds/k{k}_seed{seed}.npz"),
    output:
        sweeps=every_k_and_seed("results/sweep/{{variant}}/k{k}_seed{seed}.parquet"),
        validation=every_k_and_seed(
            "results/sweep_validation/{{variant}}/k{k}_seed{seed}.parquet"
        ),
        decisions=every_k_and_seed(
            "results/decisions/{{variant}}/k{k}_seed{seed}.parquet"
        ),
        oof=every_k_and_seed("results/sweep_oof/{{variant}}/k{k}_seed{seed}.parquet"),
        cv_aiq="results/sweep_oof/{variant}/cv_aiq.parquet",
    log:
        "logs/sweep/{variant}.log",
    benchmark:
        "benchmarks/sweep/{variant}.tsv"
    priority: CRITICAL_PATH
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        # (k, seed) of each position in the input and output lists above, in the same order
        runs=[(k, seed) for k in CLUSTER_COUNTS for seed in SEEDS],
        variant=variant_spec,
        models=config["models"],
        avengers={key: config["avengers"][key] for key in ("top_k", "beta")},
        sweep=config["sweep"],
    script:
        "../scripts/sweep.py"


rule baselines:
    input:
        records="results/records.parquet",
        splits=split_files(),
    output:
        baselines=expand("results/baselines/seed{seed}.parquet", seed=SEEDS),
        decisions=expand(
            "results/decisions/dataset-router/{variant}_seed{seed}.parquet",
            seed=SEEDS,
            variant=VARIANTS,
        ),
    log:
        "logs/baselines.log",
    benchmark:
        "benchmarks/baselines.tsv"
    priority: CRITICAL_PATH
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        seeds=SEEDS,
        variants=config["avengers"]["variants"],
        models=config["models"],
        sweep=config["sweep"],
    script:
        "../scripts/baselines.py"
