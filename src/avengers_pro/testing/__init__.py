"""Support for the tests and benchmarks only, like ``numpy.testing``: nothing else in the package
imports it, and the pipeline never runs it.

- :mod:`~avengers_pro.testing.synthetic`: synthetic records and queries at any size.
- :mod:`~avengers_pro.testing.small_routers`: tiny hand-made records and embeddings, and a small
  exported Avengers-Pro router for tests that need a router folder.
- :mod:`~avengers_pro.testing.reference_sweep`: the plain per-query sweep (Python loops) that the
  vectorised sweep is checked and benchmarked against.
- :mod:`~avengers_pro.testing.workflow_runs`: running this checkout's Snakefile from end-to-end tests.
- :mod:`~avengers_pro.testing.fake_chat_server`, :mod:`~avengers_pro.testing.fake_upstreams`: local
  stand-ins for chat-completion endpoints (collecting, serving).
- :mod:`~avengers_pro.testing.local_embedding_server`: the local embedder behind an
  OpenAI-compatible ``/v1/embeddings`` endpoint, for trying the ``openai`` backend offline.
"""
