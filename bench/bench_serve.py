#!/usr/bin/env python
"""Load test of ``avengers-pro serve`` on loopback: what the router adds over the upstream.

Three processes on this machine: a fake OpenAI-compatible upstream (``avengers_pro.testing.fake_upstreams``)
that answers every request after a fixed delay (50 ms), the real ``avengers-pro serve`` command
with the local all-MiniLM-L6-v2 embedder (or the ``static`` one), and this script as the client.

The prompts are real: ``--requests`` prompts drawn (seed 0) from the RouterBench CSVs the pipeline
reads (``data/routerbench/*.csv``, column ``prompt``): their length distribution, long few-shot
prompts included (median about 430 tokens by the MiniLM tokenizer; 87% are longer than the 256
the embedder keeps). ARC's and Winogrande's prompts share their first 256 tokens (the few-shot
examples), so once cut most would be the same text, which the embedder embeds once per batch; each
prompt therefore starts with its own ``Request <i>:`` line (``--as-is`` sends them unchanged). For each concurrency (1, 8, 32 and 64 by default) and mode (non-streaming by
default; ``--modes plain stream``) the same prompts go straight to the fake upstream (the
baseline: what the client and the upstream cost without the router) and then through the server,
side by side. Every answer is checked (status, the routed model's reply; for streams the whole
text and ``[DONE]``) and classed as answered, refused (503 from admission control: a clear error
that says when to retry) or lost (anything else: a transport error, a wrong answer, another status).

Reported per concurrency and mode: answered/refused/lost, requests/s, the latency percentiles
through the router and direct, and the ADDED latency per request = the client's latency minus the
upstream call's duration that the server reports in ``server-timing`` (for a stream: minus the time
to the upstream's first byte, since the fake sends the rest at once); ``added_with_refused`` counts
each 503 at its whole latency. Also the server's CPU per request, its peak RSS (VmHWM), its
micro-batching (texts per forward pass, from ``/metrics``) and the load average before and after.

    python bench/bench_serve.py                                  # MiniLM, concurrency 1 8 32 64
    python bench/bench_serve.py --embedding static               # the static embedder
    python bench/bench_serve.py --concurrency 32 --requests 200  # a quick look
    python bench/bench_serve.py --serve-args="--max-queued-embeddings 16"

Without ``--router`` a toy router (8 clusters, 6 models) is exported first from generated
questions embedded with the chosen embedder. Writes ``bench/results/serve-<embedding>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import multiprocessing as mp
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _common import DATA, RESULTS, machine_info, peak_rss_mib, write_json

EMBEDDINGS = {
    "minilm": {"backend": "sentence-transformers", "model": "all-MiniLM-L6-v2", "max_tokens": 256},
    "static": {"backend": "static", "model": "all-MiniLM-L6-v2", "max_tokens": 256},
}
TOPICS = {
    "math": "What is {a} times {b}, and is the result a prime number?",
    "code": "Write a Python function that returns the {a}th Fibonacci number modulo {b}.",
    "history": "In which year did the treaty number {a} of the {b} kingdoms get signed?",
    "words": "Give a synonym of the word number {a} in list {b}, then use it in a sentence.",
    "chem": "Balance the reaction of {a} grams of sodium with {b} grams of chlorine.",
    "bio": "How many chromosomes does species {a} of genus {b} have?",
}
MODELS = ["big-generalist", "mid-generalist", "coder", "mathy", "historian", "small"]


def _questions(n: int, offset: int = 0) -> list[str]:
    names = list(TOPICS)
    return [TOPICS[names[i % len(names)]].format(a=offset + i, b=(7 * i) % 97) for i in range(n)]


def real_prompts(pattern: str, n: int, distinct: bool = False) -> list[str]:
    """``n`` prompts drawn (seed 0, with replacement when there are fewer) from the CSVs ``pattern``
    names; with ``distinct``, each starts with its own short line (``Request <i>:``), so that no two
    share the head the embedder keeps.
    """
    import pandas as pd

    files = sorted(glob.glob(pattern))
    if not files:
        raise SystemExit(f"no prompt files match {pattern} (copy the RouterBench CSVs to data/routerbench/)")
    prompts = pd.concat([pd.read_csv(f, usecols=["prompt"]) for f in files])["prompt"].dropna().astype(str)
    prompts = prompts[prompts.str.strip() != ""].to_numpy()
    rng = np.random.default_rng(0)
    drawn = [str(p) for p in rng.choice(prompts, size=n, replace=n > len(prompts))]
    return [f"Request {i}:\n{p}" for i, p in enumerate(drawn)] if distinct else drawn


def export_toy_router(out: Path, embedding: dict[str, Any]) -> Path:
    """A router over MODELS fitted on 240 generated questions embedded with ``embedding``."""
    import pandas as pd

    from avengers_pro.embeddings import embed_texts
    from avengers_pro.export import export_router

    rng = np.random.default_rng(0)
    questions = _questions(240, offset=10_000)
    skill = {"big-generalist": 0.9, "mid-generalist": 0.75, "small": 0.4}
    cost = {
        "big-generalist": 0.02,
        "mid-generalist": 0.004,
        "small": 0.0005,
        "coder": 0.002,
        "mathy": 0.002,
        "historian": 0.002,
    }
    specialist = {"coder": "code", "mathy": "math", "historian": "history"}
    rows = []
    for i, question in enumerate(questions):
        topic = list(TOPICS)[i % len(TOPICS)]
        for model in MODELS:
            p = skill.get(model, 0.95 if specialist.get(model) == topic else 0.2)
            rows.append(
                {
                    "query_id": f"q{i:04d}",
                    "dataset": topic,
                    "query": question,
                    "prompt": question,
                    "model": model,
                    "score": float(rng.random() < p),
                    "cost": cost[model],
                }
            )
    records = pd.DataFrame(rows)
    queries = records.drop_duplicates("query_id")
    vectors = embed_texts(queries["query"].tolist(), embedding, cache_path=None, progress=False)
    config = {
        "models": MODELS,
        "avengers": {
            "variants": {"official": {"normalisation": "official", "aggregation": "official"}},
            "top_k": 3,
            "beta": 9.0,
        },
        "sweep": {"alphas": {"start": 0.0, "stop": 1.0, "num": 11}, "max_router": 1},
        "clustering": {"n_init": 3, "minibatch_above": 200_000},
        "split": {"seeds": [0]},
        "embedding": embedding,
    }
    export_router(
        records,
        queries["query_id"].to_numpy(),
        vectors,
        config,
        {"name": "bench", "variant": "official", "n_clusters": 8, "alpha": 0.6},
        out,
    )
    return out


def _run_upstream(delay: float, ports: Any, stop: Any) -> None:
    """Child process: the fake upstream until ``stop`` is set."""
    from avengers_pro.testing.fake_upstreams import Behaviour, FakeUpstream, ServerThread

    fake = FakeUpstream(default=Behaviour(delay=delay), keep=10)
    with ServerThread(fake.app, graceful_timeout=2) as server:
        ports.put(server.port)
        stop.wait(3600)


class StandInEmbedder:
    """Words hashed into 384 dimensions: no model, a few microseconds a text. Only for
    ``--stand-in-embedder``, which measures the server without the cost of the embedder."""

    backend = "sentence-transformers"
    model = cache_model = "stand-in"
    batch_size = 64
    max_concurrency = 1

    def truncate(self, texts: list[str]) -> list[str]:
        return texts

    def embed(self, texts: list[str]) -> np.ndarray:
        import zlib

        vectors = np.full((len(texts), 384), 0.01, dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.split():
                vectors[row, zlib.crc32(word.encode()) % 384] += 1.0
        return vectors


def _serve_stand_in(router_dir: str, upstreams: str, port: int) -> None:
    """The server process of ``--stand-in-embedder``: the app of ``avengers-pro serve``, another embedder."""
    import uvicorn

    from avengers_pro.export import Router
    from avengers_pro.serve.app import create_app
    from avengers_pro.serve.config import load_upstreams

    router = Router.load(router_dir)
    router._embedder = StandInEmbedder()
    app = create_app(router, load_upstreams(upstreams, router.models))
    uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, timeout_keep_alive=30)
    ).run()  # as `avengers-pro serve` does


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_timing(header: str) -> dict[str, float]:
    out = {}
    for part in header.split(","):
        name, _, dur = part.strip().partition(";dur=")
        if dur:
            out[name] = float(dur) / 1e3
    return out


async def _one(
    client: httpx.AsyncClient, url: str, model: str, text: str, stream: bool, expect_model: str | None
) -> dict[str, Any]:
    """One request: latency, the upstream duration the server reports, and whether the answer is right."""
    from avengers_pro.testing.fake_upstreams import reply_text

    body = {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}
    started = time.perf_counter()
    try:
        async with client.stream("POST", f"{url}/chat/completions", json=body) as response:
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
        latency = time.perf_counter() - started
    except httpx.HTTPError as error:
        return {
            "ok": False,
            "error": f"{type(error).__name__}: {error!r:.200}",
            "after_s": time.perf_counter() - started,
        }
    if response.status_code == 503 and b"server_overloaded" in raw:
        return {"ok": False, "refused": True, "error": "refused (503)", "latency": latency}
    if response.status_code != 200:
        return {"ok": False, "error": f"status {response.status_code}", "latency": latency}
    served = response.headers.get("x-avengers-pro-model", expect_model)
    upstream_model = f"up-{served}"
    if stream:
        events = [block[6:] for block in raw.decode().split("\n\n") if block.startswith("data: ")]
        chunks = [json.loads(e) for e in events[:-1]]
        content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        ok = events[-1:] == ["[DONE]"] and content == reply_text(upstream_model, text)
    else:
        ok = json.loads(raw)["choices"][0]["message"]["content"] == reply_text(upstream_model, text)
    timing = _server_timing(response.headers.get("server-timing", ""))
    return {
        "ok": ok,
        "error": None if ok else "wrong answer",
        "latency": latency,
        "upstream": timing.get("upstream"),
        "routing": timing.get("routing"),
        "model": served,
    }


async def _load(
    url: str, model: str, texts: list[str], stream: bool, concurrency: int, expect_model: str | None = None
) -> tuple[list[dict[str, Any]], float]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for text in texts:
        queue.put_nowait(text)
    results: list[dict[str, Any]] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0), limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                text = queue.get_nowait()
                results.append(await _one(client, url, model, text, stream, expect_model))

        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), timeout=600)
        wall = time.perf_counter() - started
    return results, wall


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    array = np.asarray(values) * 1e3
    return {
        "p50_ms": float(np.percentile(array, 50)),
        "p90_ms": float(np.percentile(array, 90)),
        "p99_ms": float(np.percentile(array, 99)),
        "max_ms": float(array.max()),
    }


def _metric_sum(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def _run_level(url: str, upstream_url: str, first: str, texts: list[str], stream: bool, concurrency: int,
               server_pid: int) -> dict[str, Any]:  # fmt: skip
    """One concurrency and mode: the prompts straight to the upstream, then through the server."""
    direct, direct_wall = asyncio.run(
        _load(upstream_url, f"up-{first}", texts, stream, concurrency, expect_model=first)
    )
    cpu = _cpu_seconds(server_pid)
    routed, wall = asyncio.run(_load(f"{url}/v1", "avengers-pro", texts, stream, concurrency))
    cpu = _cpu_seconds(server_pid) - cpu
    good = [r for r in routed if r["ok"]]
    refused = [r for r in routed if r.get("refused")]
    lost = [r for r in routed if not r["ok"] and not r.get("refused")]
    added = [r["latency"] - r["upstream"] for r in good if r.get("upstream") is not None]
    return {
        "answered": len(good),
        "refused": len(refused),
        "lost": len(lost),
        "errors": [{"error": r["error"], "after_s": r.get("after_s")} for r in lost][:20],
        "rps": len(routed) / wall,
        "answered_rps": len(good) / wall,
        "server_cpu_ms_per_request": cpu / len(routed) * 1e3,
        "latency": _percentiles([r["latency"] for r in good]),
        "added": _percentiles(added),
        "added_with_refused": _percentiles(added + [r["latency"] for r in refused]),
        "routing": _percentiles([r["routing"] for r in good if r.get("routing") is not None]),
        "direct": {
            "lost": sum(not r["ok"] for r in direct),
            "rps": len(direct) / direct_wall,
            "latency": _percentiles([r["latency"] for r in direct if r["ok"]]),
        },
    }


def _start_server(args: argparse.Namespace, router_dir: Path, work: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [
        sys.executable, "-m", "avengers_pro.cli", "serve", "--router", str(router_dir),
        "--upstreams", str(work / "upstreams.yaml"), "--port", str(port), "--log-level", "warning",
        "--embed-threads", str(args.embed_threads), *shlex.split(args.serve_args),
    ]  # fmt: skip
    if args.stand_in_embedder:
        command = [
            sys.executable,
            __file__,
            "--serve-stand-in",
            str(router_dir),
            str(work / "upstreams.yaml"),
            str(port),
        ]
    with open(work / "server.log", "w") as log_file:
        return subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)


def _wait_started(server: subprocess.Popen[bytes], url: str, work: Path) -> None:
    for _ in range(3000):  # the embedder loads before the server answers: up to 5 minutes
        if server.poll() is not None:
            raise SystemExit(f"the server exited: see {work / 'server.log'}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("the server did not start in 5 minutes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="prompts per concurrency and mode")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--modes", nargs="+", choices=["plain", "stream"], default=["plain"])
    parser.add_argument("--delay", type=float, default=0.05, help="the fake upstream's answer time (s)")
    parser.add_argument("--embed-threads", type=int, default=1, help="the server's --embed-threads")
    parser.add_argument("--embedding", choices=sorted(EMBEDDINGS), default="minilm", help="the toy router's embedder")
    parser.add_argument("--prompts", default=str(DATA / "*.csv"), help="CSV files (glob)")
    parser.add_argument("--serve-args", default="", help="more options of avengers-pro serve, one string")
    parser.add_argument(
        "--as-is",
        action="store_true",
        help="send the prompts unchanged (default: each starts with its own 'Request <i>:' line, since "
        "ARC's and Winogrande's few-shot prompts share their first 256 tokens: 300 prompts are 44 "
        "distinct texts once cut, and the embedder then embeds each batch's duplicates once)",
    )
    parser.add_argument("--router", help="an exported router folder (default: a toy one, exported first)")
    parser.add_argument(
        "--stand-in-embedder",
        action="store_true",
        help="serve with a hashing stand-in instead of the embedder: the server's own cost, without "
        "the embedder's (not the benchmark's headline numbers)",
    )
    parser.add_argument("--serve-stand-in", nargs=3, metavar=("ROUTER", "UPSTREAMS", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help="default bench/results/serve-<embedding>.json")
    args = parser.parse_args()
    if args.serve_stand_in:
        _serve_stand_in(args.serve_stand_in[0], args.serve_stand_in[1], int(args.serve_stand_in[2]))
        return

    texts = real_prompts(args.prompts, args.requests, distinct=not args.as_is)
    work = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    if args.router:
        router_dir = Path(args.router)
    else:
        print(f"exporting a toy router with the {args.embedding} embedder ...", flush=True)
        router_dir = export_toy_router(work / "bench", EMBEDDINGS[args.embedding])
    from avengers_pro.export import Router

    models = Router.load(router_dir).models

    ctx = mp.get_context("spawn")
    ports, stop = ctx.Queue(), ctx.Event()
    upstream = ctx.Process(target=_run_upstream, args=(args.delay, ports, stop), daemon=True)
    upstream.start()
    upstream_url = f"http://127.0.0.1:{ports.get(timeout=120)}/v1"
    config = {
        "models": {
            m: {"base_url": upstream_url, "model": f"up-{m}", "price": {"input": 1.0, "output": 2.0}} for m in models
        },
        "reference_model": models[0],
        "timeout": 30,
    }
    (work / "upstreams.yaml").write_text(json.dumps(config))  # JSON is YAML

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    report: dict[str, Any] = {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "embed_threads": args.embed_threads,
        "embedder": "stand-in (hashing)" if args.stand_in_embedder else args.embedding,
        "serve_args": args.serve_args,
        "prompts_as_is": args.as_is,
        "upstream_delay_ms": args.delay * 1e3,
        "router": str(router_dir),
        "models": len(models),
        "prompt_chars": {f"p{q}": float(np.percentile([len(t) for t in texts], q)) for q in (10, 50, 90, 99)},
        "machine": machine_info(),
        "levels": {},
    }
    started = time.perf_counter()
    server = _start_server(args, router_dir, work, port)
    try:
        _wait_started(server, url, work)
        report["server_start_s"] = time.perf_counter() - started
        report["server_rss_idle_mib"] = peak_rss_mib(server.pid)
        # Warm both paths (connections, first batches) with a few requests that are not counted.
        warm = [f"Warm-up {i}:\n{p}" for i, p in enumerate(real_prompts(args.prompts, 32))]
        asyncio.run(_load(f"{url}/v1", "avengers-pro", warm, False, 8))
        asyncio.run(_load(upstream_url, f"up-{models[0]}", warm, False, 8, expect_model=models[0]))
        for concurrency in args.concurrency:
            for mode in args.modes:
                level = _run_level(url, upstream_url, models[0], texts, mode == "stream", concurrency, server.pid)
                report["levels"][f"{mode}@{concurrency}"] = level
                print(
                    f"{mode:6} c={concurrency:<3} answered {level['answered']:4} refused {level['refused']:4} "
                    f"lost {level['lost']:3}  {level['rps']:6.1f} req/s  added p50 "
                    f"{level['added'].get('p50_ms', float('nan')):7.1f} p99 {level['added'].get('p99_ms', float('nan')):7.1f} ms"
                    f"  (with 503s p99 {level['added_with_refused'].get('p99_ms', float('nan')):7.1f})  direct "
                    f"{level['direct']['rps']:6.1f} req/s p50 {level['direct']['latency'].get('p50_ms', float('nan')):6.1f} ms",
                    flush=True,
                )  # fmt: skip
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        batches = _metric_sum(metrics, "avengers_pro_embed_batch_size_count")
        report["embed_batches"] = batches
        report["mean_batch"] = _metric_sum(metrics, "avengers_pro_embed_batch_size_sum") / max(batches, 1)
        report["fallbacks"] = _metric_sum(metrics, "avengers_pro_fallbacks_total")
        report["server_peak_rss_mib"] = peak_rss_mib(server.pid)
        report["load_after"] = os.getloadavg()
    finally:
        server.terminate()  # SIGTERM: the graceful shutdown
        try:
            report["server_exit"] = server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            report["server_exit"] = "killed"
        stop.set()
        upstream.join(30)

    out = Path(args.out or RESULTS / f"serve-{report['embedder'].split()[0]}.json")
    write_json(report, out)
    print(
        f"\nembedder {report['embedder']}; {args.requests} real prompts per level, upstream {args.delay * 1e3:.0f} ms, "
        f"{len(models)} models; server start {report['server_start_s']:.1f} s, peak RSS "
        f"{report['server_peak_rss_mib']:.0f} MiB (idle {report['server_rss_idle_mib']:.0f}); "
        f"{report['mean_batch']:.1f} texts per forward pass; fallbacks {report['fallbacks']:.0f}; "
        f"server exit {report['server_exit']}; load {report['machine']['load_average']} -> {report['load_after']}"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
