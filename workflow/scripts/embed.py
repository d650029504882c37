"""Rule embed: embed every query text (through the persistent cache) -> results/embeddings/{embedder}.parquet."""

import pandas as pd

from avengers_pro.embeddings import embed_texts
from avengers_pro.io import write_embeddings
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
queries = pd.read_parquet(snakemake.input.queries, columns=["query_id", "query"])
config = snakemake.params.embedding
if config["backend"] == "sentence-transformers":
    import torch

    torch.set_num_threads(snakemake.threads)
vectors = embed_texts(queries["query"].tolist(), config, cache_path=config["cache"], progress=True)
write_embeddings(snakemake.output.embeddings, queries["query_id"].to_numpy(), vectors)
log.info("embedded %d queries, dimension %d", *vectors.shape)
