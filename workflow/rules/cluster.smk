# KMeans on the train embeddings of one seed: on all train queries (for the test sweep) and on train
# minus validation (for choosing alpha on validation only).


rule cluster:
    input:
        embeddings=EMBEDDINGS,
        split="results/splits/seed{seed}.parquet",
    output:
        labels="results/clusters/k{k}_seed{seed}.parquet",
        centroids="results/clusters/k{k}_seed{seed}_centroids.npy",
        validation_labels="results/clusters/validation/k{k}_seed{seed}.parquet",
        validation_centroids="results/clusters/validation/k{k}_seed{seed}_centroids.npy",
    params:
        n_init=config["clustering"]["n_init"],
        minibatch_above=config["clustering"]["minibatch_above"],
    log:
        "logs/cluster/k{k}_seed{seed}.log",
    benchmark:
        "benchmarks/cluster/k{k}_seed{seed}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/cluster.py"
