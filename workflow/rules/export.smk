# Routers for new traffic: for each entry of config `export`, fit on ALL records and write
# results/exports/{name}/ (format: docs/routing.md). Two jobs per router, the first reading nothing of
# the alpha grid, so that changing sweep.alphas reruns only the second:
# - an Avengers-Pro entry (variant, n_clusters): the KMeans fits (export_clusters), then export_router
#   chooses the alpha on validation and writes the folder (no KMeans, no scikit-learn import);
# - an entry with `family:` (a family, or best-on-validation): export_select chooses the family and
#   its hyperparameters on validation, then export_family chooses the alpha, refits on all records and
#   writes the folder (its files beside router.json and embedder.json depend on the winner's family,
#   so only those two and the manifest, which lists every file with its sha256, are declared).
# Logic: avengers_pro.export.


rule export_clusters:
    input:
        records="results/records.parquet",
        embeddings=EMBEDDINGS,
    output:
        clusterings="results/export_fits/{name}.npz",
    log:
        "logs/export_clusters/{name}.log",
    benchmark:
        "benchmarks/export_clusters/{name}.tsv"
    wildcard_constraints:
        name=alternatives(CLUSTER_EXPORTS) or "(?!)",
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        entry=export_entry,
        settings=export_job_config("export_clusters"),
    script:
        "../scripts/export_clusters.py"


rule export_router:
    input:
        records="results/records.parquet",
        embeddings=EMBEDDINGS,
        clusterings="results/export_fits/{name}.npz",
    output:
        manifest="results/exports/{name}/manifest.json",
        files=expand("results/exports/{{name}}/{file}", file=ROUTER_FILES),
    log:
        "logs/export/{name}.log",
    benchmark:
        "benchmarks/export/{name}.tsv"
    wildcard_constraints:
        name=alternatives(CLUSTER_EXPORTS) or "(?!)",
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        entry=export_entry,
        settings=export_job_config("export_router"),
    script:
        "../scripts/export.py"


rule export_select:
    input:
        records="results/records.parquet",
        embeddings=EMBEDDINGS,
    output:
        selection="results/export_fits/{name}.json",
    log:
        "logs/export_select/{name}.log",
    benchmark:
        "benchmarks/export_select/{name}.tsv"
    wildcard_constraints:
        name=alternatives(FAMILY_EXPORTS) or "(?!)",
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        entry=export_entry,
        settings=export_job_config("export_select"),
    script:
        "../scripts/export_select.py"


rule export_family:
    input:
        records="results/records.parquet",
        embeddings=EMBEDDINGS,
        selection="results/export_fits/{name}.json",
    output:
        manifest="results/exports/{name}/manifest.json",
        files=expand("results/exports/{{name}}/{file}", file=COMMON_ROUTER_FILES),
    log:
        "logs/export/{name}.log",
    benchmark:
        "benchmarks/export/{name}.tsv"
    wildcard_constraints:
        name=alternatives(FAMILY_EXPORTS) or "(?!)",
    conda:
        "../envs/avengers-pro.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        entry=export_entry,
        settings=export_job_config("export_family"),
    script:
        "../scripts/export_family.py"
