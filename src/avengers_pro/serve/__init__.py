"""Serve an exported router as an OpenAI-compatible routing endpoint (``avengers-pro serve``).

* :mod:`.config`: ``upstreams.yaml`` (every model of the router mapped to an upstream and a price);
* :mod:`.app`: the Starlette app (``/v1/chat/completions``, ``/v1/models``, ``/health``, ``/metrics``);
* :mod:`.checks`: request checks and OpenAI-shaped errors;
* :mod:`.upstream`: upstream calls (retries, fallbacks, deadline, circuit breakers);
* :mod:`.access`: request ids and the JSON access log;
* :mod:`.batcher`: the embedder in a worker thread with length-aware micro-batching;
* :mod:`.metrics`: the Prometheus metrics;
* :mod:`.server`: the command;
* :mod:`.fake`: a fake upstream and a server thread, for tests and the benchmark.

See ``docs/serving.md``. The package imports nothing heavy itself (the CLI's parser imports :mod:`.server`): import from
the submodules, e.g. ``from avengers_pro.serve.app import create_app``.
"""
