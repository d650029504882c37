#!/usr/bin/env bash
# Runs once after Snakemake created the conda env (--sdm conda): install the avengers_pro package
# itself. Snakemake keeps a copy of this script in <workdir>/.snakemake/conda/, so from the repository
# root "../.." is the checkout; run from elsewhere, point AVENGERS_PRO_SOURCE at the checkout.
set -euo pipefail
pip install --no-deps -e "${AVENGERS_PRO_SOURCE:-$(dirname "$0")/../..}"
