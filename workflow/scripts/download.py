"""Rule download: fetch one source file by URL and verify its sha256."""

from avengers_pro.download import ensure_downloaded
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
source = snakemake.params.source
fetched = ensure_downloaded(source["url"], snakemake.output[0], source["sha256"])
log.info("%s %s", "downloaded" if fetched else "already present:", snakemake.output[0])
