# Embed every distinct query text once; the persistent cache makes reruns and new sources cheap.


rule embed:
    input:
        queries="results/queries.parquet",
    output:
        embeddings=EMBEDDINGS,
    params:
        embedding=config["embedding"],
    log:
        f"logs/embed/{EMBEDDER}.log",
    benchmark:
        f"benchmarks/embed/{EMBEDDER}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
    script:
        "../scripts/embed.py"
