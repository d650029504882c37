# KMeans on the train embeddings, one job per cluster count covering every seed (one process pays the
# scikit-learn import once): on all train queries (for the test sweep) and on train minus validation
# (for choosing alpha on validation only).


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
        minibatch_above=config["clustering"]["minibatch_above"],
    script:
        "../scripts/cluster.py"
