# Ask every endpoint every benchmark question: one job per (benchmark, endpoint), written in
# LLMRouterBench's layout (its folder holds one <benchmark>-<split>-<endpoint>-<YYYYMMDD_HHMMSS>.json)
# and read by ingest like any other source. The answer cache makes reruns free.


rule collect:
    input:
        benchmark=benchmark_file,
    output:
        run=directory("results/collected/bench/{benchmark}/{split}/{endpoint}"),
    log:
        "logs/collect/{benchmark}/{split}/{endpoint}.log",
    benchmark:
        "benchmarks/collect/{benchmark}/{split}/{endpoint}.tsv"
    wildcard_constraints:
        benchmark=alternatives(BENCHMARKS) or "(?!)",
        endpoint=alternatives(ENDPOINTS) or "(?!)",
        split="[A-Za-z0-9_.-]+",
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=1440,
    params:
        spec=collect_job_spec,
    script:
        "../scripts/collect.py"
