# Download (once, checksum-verified) and convert every source into the canonical records table.


if URL_SOURCES:

    rule download:
        output:
            "{download_path}",
        wildcard_constraints:
            download_path=_alternatives(URL_SOURCES),
        params:
            source=download_source,
        log:
            "logs/download/{download_path}.log",
        threads: 1
        resources:
            mem_mb=500,
            runtime=30,
        script:
            "../scripts/download.py"


rule ingest:
    input:
        sources=[src["path"] for src in config["sources"]],
    output:
        records="results/records.parquet",
        queries="results/queries.parquet",
        report="results/ingest_report.json",
    params:
        sources=config["sources"],
        models=config["models"],
        datasets=config["datasets"],
        missing=config["missing"],
        prices=config["prices"],
    log:
        "logs/ingest.log",
    benchmark:
        "benchmarks/ingest.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/ingest.py"
