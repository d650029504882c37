# The alpha sweep: for one (variant, k), every seed and every alpha in one vectorised pass.


rule sweep:
    input:
        records="results/records.parquet",
        embeddings=EMBEDDINGS,
        splits=split_files(),
        labels=expand("results/clusters/k{{k}}_seed{seed}.parquet", seed=SEEDS),
        centroids=expand("results/clusters/k{{k}}_seed{seed}_centroids.npy", seed=SEEDS),
        validation_labels=expand(
            "results/clusters/validation/k{{k}}_seed{seed}.parquet", seed=SEEDS
        ),
        validation_centroids=expand(
            "results/clusters/validation/k{{k}}_seed{seed}_centroids.npy", seed=SEEDS
        ),
    output:
        sweeps=expand("results/sweep/{{variant}}/k{{k}}_seed{seed}.parquet", seed=SEEDS),
        validation=expand(
            "results/sweep_validation/{{variant}}/k{{k}}_seed{seed}.parquet",
            seed=SEEDS,
        ),
        decisions=expand(
            "results/decisions/{{variant}}/k{{k}}_seed{seed}.parquet", seed=SEEDS
        ),
    log:
        "logs/sweep/{variant}/k{k}.log",
    benchmark:
        "benchmarks/sweep/{variant}/k{k}.tsv"
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        seeds=SEEDS,
        variant=variant_spec,
        models=config["models"],
        router={
            key: config["router"][key]
            for key in ("alphas", "top_k", "beta", "max_router")
        },
    script:
        "../scripts/sweep.py"


rule baselines:
    input:
        records="results/records.parquet",
        split="results/splits/seed{seed}.parquet",
    output:
        baselines="results/baselines/seed{seed}.parquet",
        decisions=expand(
            "results/decisions/dataset-router/{variant}_seed{{seed}}.parquet",
            variant=VARIANTS,
        ),
    log:
        "logs/baselines/seed{seed}.log",
    benchmark:
        "benchmarks/baselines/seed{seed}.tsv"
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        variants=config["router"]["variants"],
        models=config["models"],
        router={key: config["router"][key] for key in ("alphas", "max_router")},
    script:
        "../scripts/baselines.py"
