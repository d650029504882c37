# Download (once, checksum-verified) and convert every source into the canonical records table.


if URL_SOURCES:

    rule download:
        output:
            "{download_path}",
        log:
            "logs/download/{download_path}.log",
        benchmark:
            "benchmarks/download/{download_path}.tsv"
        wildcard_constraints:
            download_path=alternatives(URL_SOURCES),
        conda:
            "../envs/avengers-pro.yaml"
        threads: 1
        resources:
            mem_mb=500,
            runtime=30,
        params:
            source=download_source,
        script:
            "../scripts/download.py"


rule ingest:
    input:
        sources=[src["path"] for src in ALL_SOURCES],
    output:
        records="results/records.parquet",
        queries="results/queries.parquet",
        report="results/ingest_report.json",
    log:
        "logs/ingest.log",
    benchmark:
        "benchmarks/ingest.tsv"
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        sources=ALL_SOURCES,
        models=config["models"],
        datasets=config["datasets"],
        missing=config["missing"],
        prices=config["prices"],
    script:
        "../scripts/ingest.py"
