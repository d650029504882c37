# Routers for new traffic: for each entry of config `export`, fit on ALL records and write
# results/router/{name}/ (format: README, "Route new queries"). Two jobs per router: the KMeans fits
# (export_clusters) read nothing of the alpha grid, so changing router.alphas reruns only
# export_router, which chooses the alpha on validation and writes the folder (no KMeans, no
# scikit-learn import). Logic: avengers_pro.export.


rule export_clusters:
    input:
        records="results/records.parquet",
        embeddings=EMBEDDINGS,
    output:
        clusterings="results/router_fits/{name}.npz",
    log:
        "logs/export_clusters/{name}.log",
    benchmark:
        "benchmarks/export_clusters/{name}.tsv"
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        entry=export_entry,
        settings=export_fit_settings,
    script:
        "../scripts/export_clusters.py"


rule export_router:
    input:
        records="results/records.parquet",
        embeddings=EMBEDDINGS,
        clusterings="results/router_fits/{name}.npz",
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
