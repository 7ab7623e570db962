"""Load and abuse for an HTTP service (notebook 08): a closed-loop load generator, latency percentiles,
a flood of malformed requests, and the plot of throughput and latency against concurrency.

:func:`run_load` starts ``clients`` concurrent clients (``httpx.AsyncClient``, one keep-alive connection
each); each sends one text per request and sends the next as soon as the answer arrives (a *closed loop*:
the offered load follows the service's speed, as with users who wait for each answer). The first
``warmup_s`` seconds are not counted. The event loop runs in a thread of its own, so this works inside a
notebook (whose kernel already runs an event loop) as well as in a script.

:func:`malformed_requests` makes the bad requests a service must survive -- each with the status it must
answer -- and :func:`flood` sends them and checks every answer.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd


def _in_own_loop(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine to completion in a fresh event loop on another thread (a kernel's loop is busy)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def percentile_ms(latencies_ms: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by the nearest-rank rule: the smallest value with at least q% of the
    values at or below it (an observed latency, never an interpolation) -- numpy's
    ``np.percentile(..., method="inverted_cdf")``."""
    values = np.asarray(latencies_ms, dtype=np.float64)
    if values.size == 0 or not 0 < q <= 100:
        raise LlmkitError(
            f"percentile_ms: expected latencies and q in (0, 100], got {values.size} values, q={q}"
        )
    return float(np.percentile(values, q, method="inverted_cdf"))


@dataclass
class LoadResult:
    """One load run: every counted request's latency as the client saw it."""

    clients: int
    seconds: float  # the counted window
    latencies_ms: list[float]  # answered requests (status 200) completed in the window
    errors: int  # answers other than 200, and transport errors, in the window
    batch_sizes: list[int] = field(default_factory=list)  # the service's batch size for each request
    window: tuple[float, float] = (0.0, 0.0)  # the counted window in epoch seconds (to match the request log)

    @property
    def requests_per_s(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def summary(self) -> dict[str, float]:
        lat = self.latencies_ms or [float("nan")]
        return {
            "clients": self.clients,
            "requests": len(self.latencies_ms),
            "requests_per_s": self.requests_per_s,
            "p50_ms": percentile_ms(lat, 50) if self.latencies_ms else float("nan"),
            "p95_ms": percentile_ms(lat, 95) if self.latencies_ms else float("nan"),
            "p99_ms": percentile_ms(lat, 99) if self.latencies_ms else float("nan"),
            "mean_batch": float(np.mean(self.batch_sizes)) if self.batch_sizes else float("nan"),
            "errors": self.errors,
        }


async def _load(url: str, texts: Sequence[str], clients: int, seconds: float, warmup_s: float) -> LoadResult:
    import httpx

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    latencies: list[float] = []
    batches: list[int] = []
    errors = 0
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0) as client:
        begin, epoch = time.perf_counter(), time.time()
        counted_from, until = begin + warmup_s, begin + warmup_s + seconds

        async def one_client(c: int) -> None:
            nonlocal errors
            k = c * max(1, len(texts) // clients)  # each client walks the texts from its own offset
            while (sent := time.perf_counter()) < until:
                text = texts[k % len(texts)]
                k += 1
                try:
                    response = await client.post("/predict", json={"texts": [text]})
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok, response = False, None
                done = time.perf_counter()
                if counted_from <= done <= until:
                    if ok:
                        latencies.append(1000 * (done - sent))
                        batches.append(int(response.json()["batch_size"]))
                    else:
                        errors += 1

        await asyncio.gather(*(one_client(c) for c in range(clients)))
    window = (epoch + warmup_s, epoch + warmup_s + seconds)
    return LoadResult(clients, seconds, latencies, errors, batches, window)


def run_load(
    url: str,  # the service, e.g. server.url
    texts: Sequence[str],  # sent one per request, each client from its own offset
    clients: int,  # concurrent clients
    seconds: float = 3.0,  # the counted window
    warmup_s: float = 0.5,  # sent but not counted (connections opened, caches warm)
) -> LoadResult:
    """Closed-loop load: ``clients`` clients each sending one text per request for ``warmup_s + seconds``."""
    if not texts or clients < 1 or seconds <= 0 or warmup_s < 0:
        raise LlmkitError(
            f"run_load: expected texts, clients >= 1, seconds > 0, warmup_s >= 0; "
            f"got {len(texts)} texts, {clients}, {seconds}, {warmup_s}"
        )
    return _in_own_loop(lambda: _load(url, list(texts), clients, seconds, warmup_s))


# ------------------------------------------------------------------------------------------ the flood


@dataclass(frozen=True)
class Malformed:
    """One bad request and the status a correct service answers it with."""

    kind: str
    status: int
    content: bytes
    content_type: str = "application/json"
    method: str = "POST"
    path: str = "/predict"


def malformed_requests(n: int, max_texts: int = 64, max_body_bytes: int = 1_000_000) -> list[Malformed]:
    """``n`` bad requests cycling through every kind (for a service with these limits)."""

    def body(value: Any) -> bytes:
        return json.dumps(value).encode()

    kinds = [
        Malformed("malformed JSON", 422, b'{"texts": ["unclosed'),
        Malformed("not JSON at all", 422, b"texts=hello"),
        Malformed("invalid UTF-8", 422, b'{"texts": ["\xff\xfe"]}'),
        Malformed("empty body", 422, b""),
        Malformed("body is a list", 422, body(["a note"])),
        Malformed("missing texts", 422, body({"text": "a note"})),
        Malformed("unknown field", 422, body({"texts": ["a note"], "debug": True})),
        Malformed("texts is a string", 422, body({"texts": "a note"})),
        Malformed("empty list", 422, body({"texts": []})),
        Malformed("a number in texts", 422, body({"texts": ["a note", 42]})),
        Malformed("null in texts", 422, body({"texts": [None]})),
        Malformed("nested list", 422, body({"texts": [["a note"]]})),
        Malformed("blank text", 422, body({"texts": ["   "]})),
        Malformed("too many texts", 413, body({"texts": ["a note"] * (max_texts + 1)})),
        Malformed("body too large", 413, body({"texts": ["x" * (max_body_bytes + 1)]})),
        Malformed("text/plain", 415, b"a note", content_type="text/plain"),
        Malformed("form data", 415, b"texts=a+note", content_type="application/x-www-form-urlencoded"),
        Malformed("no content type", 415, body({"texts": ["a note"]}), content_type=""),
        Malformed("GET /predict", 405, b"", method="GET"),
        Malformed("unknown path", 404, body({"texts": ["a note"]}), path="/predict/v2"),
    ]
    return [kinds[i % len(kinds)] for i in range(n)]


@dataclass
class FloodResult:
    sent: int
    as_expected: int  # the expected status with a JSON body holding "error" and "message"
    by_kind: dict[str, Counter]  # kind -> Counter of statuses answered
    seconds: float

    @property
    def all_as_expected(self) -> bool:
        return self.as_expected == self.sent

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([{"kind": k, "answered": dict(c)} for k, c in self.by_kind.items()]).set_index(
            "kind"
        )


async def _flood(url: str, requests: list[Malformed], concurrency: int) -> FloodResult:
    import httpx

    by_kind: dict[str, Counter] = {}
    good = 0
    queue = list(reversed(requests))
    start = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=60.0) as client:

        async def worker() -> None:
            nonlocal good
            while queue:
                bad = queue.pop()
                headers = {"content-type": bad.content_type} if bad.content_type else {}
                response = await client.request(bad.method, bad.path, content=bad.content, headers=headers)
                by_kind.setdefault(bad.kind, Counter())[response.status_code] += 1
                try:
                    answer = response.json()
                except ValueError:
                    answer = {}
                good += response.status_code == bad.status and {"error", "message"} <= set(answer)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return FloodResult(len(requests), good, by_kind, time.perf_counter() - start)


def flood(
    url: str, n: int = 1000, concurrency: int = 8, max_texts: int = 64, max_body_bytes: int = 1_000_000
) -> FloodResult:
    """Send :func:`malformed_requests` ``(n, ...)`` from ``concurrency`` clients; count the answers."""
    if n < 1 or concurrency < 1:
        raise LlmkitError(f"flood: expected n >= 1 and concurrency >= 1, got {n}, {concurrency}")
    requests = malformed_requests(n, max_texts, max_body_bytes)
    return _in_own_loop(lambda: _flood(url, requests, concurrency))


# ------------------------------------------------------------------------------------------- the plot


def plot_load(frame: pd.DataFrame, title: str | None = None) -> Any:
    """Throughput and p50/p99 latency against concurrent clients, one line per ``setup`` of ``frame``
    (columns ``setup``, ``clients``, ``requests_per_s``, ``p50_ms``, ``p99_ms``)."""
    import matplotlib.pyplot as plt

    need = {"setup", "clients", "requests_per_s", "p50_ms", "p99_ms"}
    if missing := need - set(frame.columns):
        raise LlmkitError(f"plot_load: the frame lacks columns {sorted(missing)}")
    fig, (left, right) = plt.subplots(1, 2, figsize=(12.5, 4.4))
    for i, (setup, rows) in enumerate(frame.groupby("setup", sort=False)):
        rows = rows.sort_values("clients")
        left.plot(rows["clients"], rows["requests_per_s"], "o-", color=f"C{i}", label=setup)
        right.plot(rows["clients"], rows["p50_ms"], "o-", color=f"C{i}", label=f"{setup} p50")
        right.plot(rows["clients"], rows["p99_ms"], "o--", color=f"C{i}", alpha=0.6, label=f"{setup} p99")
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(frame["clients"].unique()), [str(c) for c in sorted(frame["clients"].unique())])
        ax.set_xlabel("concurrent clients (closed loop, one text per request)")
        ax.grid(alpha=0.3)
    left.set(ylabel="throughput (requests/s)", title="Throughput")
    right.set(ylabel="latency seen by the client (ms)", title="Latency: p50 (solid) and p99 (dashed)")
    right.set_yscale("log")
    left.legend(fontsize=8)
    right.legend(fontsize=7, ncol=2)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
