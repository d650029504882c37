# KMeans on the train embeddings, one job per cluster count covering every seed (one process pays the
# scikit-learn import once): on all train queries (for the test sweep), on train minus validation (the
# validation sweep, whose hull picks the leaderboard's operating points) and on train minus each of the
# split.cv_folds folds (cross-validation over train: Avengers-Pro's k and the alpha chosen on
# out-of-fold routing). The fold fits are made once here and read by both variants' sweep jobs.


rule cluster:
    input:
        embeddings=EMBEDDINGS,
        splits=split_files(),
    output:
        labels=expand("results/clusters/k{{k}}_seed{seed}.parquet", seed=SEEDS),
        centroids=expand("results/clusters/k{{k}}_seed{seed}_centroids.npy", seed=SEEDS),
        validation_labels=expand(
            "results/clusters/validation/k{{k}}_seed{seed}.parquet", seed=SEEDS
        ),
        validation_centroids=expand(
            "results/clusters/validation/k{{k}}_seed{seed}_centroids.npy", seed=SEEDS
        ),
        folds=expand("results/clusters/folds/k{{k}}_seed{seed}.npz", seed=SEEDS),
    log:
        "logs/cluster/k{k}.log",
    benchmark:
        "benchmarks/cluster/k{k}.tsv"
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        seeds=SEEDS,
        n_init=config["clustering"]["n_init"],
        cv_n_init=config["clustering"]["cv_n_init"],
        minibatch_above=config["clustering"]["minibatch_above"],
        cv_folds=config["split"]["cv_folds"],
    script:
        "../scripts/cluster.py"
