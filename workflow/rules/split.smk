# Per-dataset seeded train/test split, with the validation part of train flagged.


rule split:
    input:
        queries="results/queries.parquet",
    output:
        split="results/splits/seed{seed}.parquet",
    log:
        "logs/split/seed{seed}.log",
    benchmark:
        "benchmarks/split/seed{seed}.tsv"
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        # Only the keys a split reads: a new cv_folds must not redraw the splits.
        split={
            key: config["split"][key]
            for key in ("train_ratio", "ood_datasets", "validation_ratio")
        },
    script:
        "../scripts/split.py"
