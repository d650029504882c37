"""Collect records from OpenAI-compatible chat endpoints: ask, grade, price, write.

Every endpoint of the config's ``endpoints:`` answers every question of every ``benchmarks:`` entry;
each (benchmark, endpoint) is one pipeline job writing one result file in LLMRouterBench's layout
(:mod:`avengers_pro.formats.llmrouterbench`), which ingest then reads like any other source.

Modules: :mod:`~avengers_pro.collect.settings` (config checks, names and paths),
:mod:`~avengers_pro.collect.benchmarks` (benchmark files and prompts),
:mod:`~avengers_pro.collect.graders`, :mod:`~avengers_pro.collect.client` (the chat client on the
shared HTTP layer), :mod:`~avengers_pro.collect.cache` (the persistent answer cache),
:mod:`~avengers_pro.collect.runner` (one job) and :mod:`~avengers_pro.testing.fake_chat_server` (a local,
deterministic stand-in endpoint for tests, benchmarks and trying the pipeline offline).
"""

# Nothing is imported here: config validation (on every snakemake call) imports collect.settings, and
# must not pay for pandas, httpx and tqdm. Import from the submodules.
