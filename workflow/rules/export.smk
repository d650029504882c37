# Routers for new traffic: for each entry of config `export`, fit on ALL records and write
# results/router/{name}/ (format: README, "Route new queries"). Logic: avengers_pro.export.export_router.


rule export_router:
    input:
        records="results/records.parquet",
        embeddings=EMBEDDINGS,
    output:
        manifest="results/router/{name}/manifest.json",
        files=expand("results/router/{{name}}/{file}", file=ROUTER_FILES),
    log:
        "logs/export/{name}.log",
    benchmark:
        "benchmarks/export/{name}.tsv"
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        entry=export_entry,
        settings=export_settings,
    script:
        "../scripts/export.py"
