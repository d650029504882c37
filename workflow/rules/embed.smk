# Embed every distinct query text once; the persistent cache makes reruns and new sources cheap.


rule embed:
    input:
        queries="results/queries.parquet",
    output:
        embeddings=EMBEDDINGS,
    log:
        f"logs/embed/{EMBEDDER}.log",
    benchmark:
        f"benchmarks/embed/{EMBEDDER}.tsv"
    conda:
        "../envs/avengers-pro.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        embedding=config["embedding"],
    script:
        "../scripts/embed.py"
