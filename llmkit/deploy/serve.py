"""An HTTP inference service for a bundle (notebook 08): FastAPI on uvicorn, with dynamic micro-batching,
strict input validation, a JSONL request log, and a context manager that runs it as a child process.

Endpoints:

* ``POST /predict`` -- ``{"texts": ["...", ...]}`` -> per text its ``label``, ``label_id``,
  ``probabilities`` (label -> probability), ``tokens`` and ``truncated`` (the text had more than the
  card's ``max_length`` tokens and was cut); a bundle trained on records as text (its card's ``input`` kind is
  ``rows``) takes ``{"rows": [{column: value, ...}, ...]}`` instead, each row checked against the card's schema
  and written as the training rows were (:mod:`llmkit.deploy.rows`), and refuses ``texts`` (and vice versa);
* ``GET /health`` -- ``{"status": "ok", ...}`` once the model is loaded;
* ``GET /metadata`` -- the bundle's model card and the serving settings.

Every error is JSON, ``{"error": code, "field": ..., "message": ...}``: 415 for a content type other than
``application/json``; 422 for malformed JSON, a body that is not an object, an unknown or missing field, a
``texts`` that is not a non-empty list of non-empty strings; 413 for more than ``max_texts`` texts or a
body over ``max_body_bytes``; 404 and 405 for other paths and methods. The service keeps serving.

**Micro-batching** (:mod:`llmkit.deploy.microbatch`): queued requests are grouped up to ``max_batch_size`` texts or
``max_wait_ms``, one model thread runs them; ``batching=False`` serves one request per model call.

Run it: ``llmkit serve BUNDLE`` (or ``python -m llmkit.deploy.serve BUNDLE``), or from Python::

    with serve.start(bundle_folder, ServeConfig(backend="onnx_int8")) as server:
        httpx.post(f"{server.url}/predict", json={"texts": ["HbA1c 8.1%, on metformin."]})

:func:`start` binds a free port on 127.0.0.1 itself and hands the socket to the child (no race for the
port), waits for ``/health``, and stops the child when the block ends -- also when it ends in an error,
and at interpreter exit, and the child exits by itself when its parent dies.

(No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations at runtime.)
"""

import argparse
import atexit
import contextlib
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

from llmkit.core.errors import LlmkitError
from llmkit.deploy.export import BACKENDS, Bundle, load_bundle, load_predictor
from llmkit.deploy.microbatch import MicroBatcher
from llmkit.deploy.monitor import RequestLog
from llmkit.deploy.rows import TAKES_TEXTS, RowError, RowReader


@dataclass
class ServeConfig:
    """The service's knobs (``llmkit serve --help`` shows the same ones)."""

    backend: str = "onnx_int8"  # one of export.BACKENDS
    threads: int = 1  # the model's intra-op threads; the event loop (and a load generator) need CPU too
    batching: bool = True  # micro-batching; False serves one request per model call
    max_batch_size: int = 32  # texts per model call at most (a larger request still runs whole)
    max_wait_ms: float = 5.0  # how long the first request of a batch waits for others
    max_texts: int = 64  # texts per request; more -> 413
    max_body_bytes: int = 1_000_000  # request body size; larger -> 413
    log_path: str | None = None  # the JSONL request log; None -> no log
    log_texts: bool = False  # also log the raw texts (off: notes are patient data)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise LlmkitError(f"backend: expected one of {', '.join(BACKENDS)}, got {self.backend!r}")
        for name in ("threads", "max_batch_size", "max_texts", "max_body_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise LlmkitError(f"{name}: expected a positive integer, got {value!r}")
        if not isinstance(self.max_wait_ms, int | float) or not 0 <= self.max_wait_ms <= 10_000:
            raise LlmkitError(
                f"max_wait_ms: expected a number of milliseconds in [0, 10000], got {self.max_wait_ms!r}"
            )


class ApiError(Exception):
    """A request the service refuses: HTTP ``status`` and the JSON body it answers with."""

    def __init__(self, status: int, error: str, field: str, message: str) -> None:
        super().__init__(message)
        self.status, self.body = status, {"error": error, "field": field, "message": message}


# -------------------------------------------------------------------------------------- validation


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("expected a non-empty text")
    return text


@functools.cache
def _request_model(max_texts: int) -> Any:
    """The ``/predict`` body as a pydantic model: only ``texts``, a list of 1 to ``max_texts`` non-blank
    strings, nothing coerced (strict)."""
    from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr

    class PredictRequest(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        texts: Annotated[
            list[Annotated[StrictStr, AfterValidator(_not_blank)]], Field(min_length=1, max_length=max_texts)
        ]

    return PredictRequest


# pydantic's error types for the body and its texts field, in the order the service reports them
_ORDER = ("model_type", "extra_forbidden", "missing", "list_type", "too_short", "too_long")


def _rank(error: dict[str, Any]) -> tuple[int, str | int]:
    """Which of pydantic's errors the service answers with: by :data:`_ORDER`, an unknown field before a
    missing one (the first by name), then the first bad text by position, then anything else."""
    kind, loc = error["type"], error["loc"]
    if len(loc) == 2 and loc[0] == "texts" and isinstance(loc[1], int):
        return len(_ORDER), loc[1]
    if kind in _ORDER:
        return _ORDER.index(kind), str(loc[0]) if loc else ""
    return len(_ORDER) + 1, str(loc)


def _refusal(errors: list[dict[str, Any]], cfg: ServeConfig) -> ApiError:
    """The one :class:`ApiError` for a body that failed :func:`_request_model`'s validation."""
    error = min(errors, key=_rank)
    kind, loc, got = error["type"], error["loc"], type(error["input"]).__name__
    name = "".join(f"[{x}]" if isinstance(x, int) else x for x in loc) or "body"  # texts[3]
    if kind == "model_type":
        return ApiError(422, "invalid_body", "body", f"body: expected a JSON object, got {got}")
    if kind == "extra_forbidden":
        return ApiError(422, "unknown_field", name, f"{name}: unknown field; expected only texts")
    if kind == "missing":
        return ApiError(422, "missing_field", "texts", "texts: missing; expected a list of strings")
    if kind == "list_type":
        return ApiError(422, "invalid_type", "texts", f"texts: expected a list of strings, got {got}")
    if kind == "too_short":
        return ApiError(422, "empty_list", "texts", "texts: expected at least one text, got an empty list")
    if kind == "too_long":
        n = len(error["input"])
        return ApiError(
            413, "too_many_texts", "texts", f"texts: {n} texts, at most {cfg.max_texts} per request"
        )
    if kind == "string_type":
        return ApiError(422, "invalid_type", name, f"{name}: expected a string, got {got}")
    if kind == "value_error":  # _not_blank
        return ApiError(422, "empty_text", name, f"{name}: expected a non-empty text")
    return ApiError(422, "invalid_request", name, f"{name}: {error['msg']}")


async def _read_texts(request: Any, cfg: ServeConfig, reader: RowReader | None = None) -> list[str]:
    """The request's ``texts``, or an :class:`ApiError` saying what is wrong with it (the body is read in
    chunks and refused as soon as it passes ``max_body_bytes``; its fields are checked by
    :func:`_request_model`); with a ``reader`` (a rows bundle), its ``rows`` as texts, or a ``RowError``."""
    from pydantic import ValidationError

    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ApiError(415, "unsupported_media_type", "content-type",
                       f"content-type: expected application/json, got {kind or 'none'!r}")  # fmt: skip
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cfg.max_body_bytes:
        raise ApiError(413, "body_too_large", "body", f"body: {declared} bytes, at most {cfg.max_body_bytes}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cfg.max_body_bytes:
            raise ApiError(413, "body_too_large", "body", f"body: over {cfg.max_body_bytes} bytes")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(422, "malformed_json", "body", f"body: not valid JSON ({exc})") from None
    if reader is not None:
        return reader.texts(reader.body_rows(data, cfg.max_texts))
    if isinstance(data, dict) and "rows" in data:
        raise ApiError(422, "wrong_input", "rows", TAKES_TEXTS)
    try:
        return _request_model(cfg.max_texts).model_validate(data).texts
    except ValidationError as exc:
        raise _refusal(exc.errors(), cfg) from None


# ----------------------------------------------------------------------------------------------- app


def create_app(bundle: Bundle | str | Path, cfg: ServeConfig | None = None, predictor: Any = None) -> Any:
    """The FastAPI app serving ``bundle`` (the model loads here; the batcher starts with the app)."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    cfg = cfg or ServeConfig()
    bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    predictor = predictor or load_predictor(bundle, cfg.backend, cfg.threads)
    reader = RowReader.of(bundle.card)  # None: the bundle takes texts
    batcher = MicroBatcher(predictor.predict, cfg.batching, cfg.max_batch_size, cfg.max_wait_ms)
    log = RequestLog(cfg.log_path, bundle.reference.get("vocabulary", ()), cfg.log_texts)
    labels, started = bundle.labels, time.time()

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        await batcher.start()
        yield
        await batcher.stop()
        log.close()
        print(f"llmkit serve: stopped after {log.count} requests", flush=True)

    app = FastAPI(
        title=f"llmkit: {bundle.card['name']}", version=str(bundle.card["version"]), lifespan=lifespan
    )
    app.state.log, app.state.batcher = log, batcher

    def error(status: int, body: dict[str, Any], since: float) -> JSONResponse:
        log.write({"time": round(time.time(), 3), "status": status, "error": body["error"],
                   "latency_ms": round(1000 * (time.perf_counter() - since), 3)})  # fmt: skip
        return JSONResponse(body, status_code=status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        body = {
            "error": code,
            "field": "path",
            "message": f"{request.method} {request.url.path}: {exc.detail}",
        }
        return error(exc.status_code, body, time.perf_counter())

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:  # pragma: no cover
        return error(
            422, {"error": "invalid_request", "field": "request", "message": str(exc)}, time.perf_counter()
        )

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "backend": cfg.backend, "batching": cfg.batching,
                "uptime_s": round(time.time() - started, 1), "requests": log.count}  # fmt: skip

    @app.get("/metadata")
    async def metadata() -> dict[str, Any]:
        serving = {k: v for k, v in asdict(cfg).items() if k != "log_path"}
        return {"model_card": bundle.card, "serving": serving}

    @app.post("/predict")
    async def predict(request: Request) -> Any:
        since = time.perf_counter()
        try:
            texts = await _read_texts(request, cfg, reader)
        except (ApiError, RowError) as exc:
            return error(exc.status, exc.body, since)
        prediction, facts = await batcher.submit(texts)
        latency_ms = 1000 * (time.perf_counter() - since)
        rows = [
            {
                "label": labels[int(p.argmax())],
                "label_id": int(p.argmax()),
                "probabilities": {name: float(x) for name, x in zip(labels, p, strict=True)},
                "tokens": n,
                "truncated": cut,
            }  # fmt: skip
            for p, n, cut in zip(
                prediction.probabilities, prediction.tokens, prediction.truncated, strict=True
            )
        ]
        log.write({"time": round(time.time(), 3), "status": 200, "n_texts": len(texts),
                   **{k: round(v, 3) for k, v in facts.items()}, "latency_ms": round(latency_ms, 3),
                   "truncated": sum(prediction.truncated), **log.features(texts)})  # fmt: skip
        return {"predictions": rows, "backend": cfg.backend, "model_version": bundle.card["version"],
                "batch_size": int(facts["batch_size"]), "latency_ms": round(latency_ms, 3)}  # fmt: skip

    return app


# ------------------------------------------------------------------------------------ the child process


@dataclass(eq=False)
class Server:
    """A service running as a child process (made by :func:`start`)."""

    url: str  # e.g. http://127.0.0.1:43121
    process: subprocess.Popen
    cfg: ServeConfig
    output: Path  # the child's stdout and stderr

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout_s``; the exit code (-15 after a clean stop: uvicorn finishes
        the requests in flight and the app's shutdown, then re-raises the signal it caught)."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        _RUNNING.discard(self)
        return int(self.process.returncode)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_RUNNING: set[Server] = set()
atexit.register(lambda: [s.stop(2.0) for s in list(_RUNNING)])


def start(
    bundle: str | Path,  # a folder written by export.build_bundle
    cfg: ServeConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,  # 0 -> a free port
    timeout_s: float = 120.0,  # to load the model and answer /health
    output: str | Path | None = None,  # the child's stdout/stderr; default: beside the log, or a temp file
) -> Server:
    """Start ``python -m llmkit.deploy.serve`` on ``bundle`` and return once ``/health`` answers."""
    import tempfile

    import httpx

    cfg = cfg or ServeConfig()
    load_bundle(bundle)  # fail here, in one line, rather than in the child
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    url = f"http://{host}:{sock.getsockname()[1]}"
    if output is None:
        if cfg.log_path:
            output = Path(cfg.log_path).with_suffix(".out")
        else:
            handle, output = tempfile.mkstemp(".out", "llmkit-serve-")
            os.close(handle)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "llmkit.deploy.serve", str(bundle), "--fd", str(sock.fileno()),
            "--parent-pid", str(os.getpid()), *_config_argv(cfg)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(cfg.threads), "TOKENIZERS_PARALLELISM": "false"}
    with output.open("w") as sink:
        process = subprocess.Popen(
            argv, pass_fds=[sock.fileno()], stdout=sink, stderr=subprocess.STDOUT, env=env
        )
    sock.close()  # the child holds its own copy
    server = Server(url, process, cfg, output)
    _RUNNING.add(server)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not server.alive:
            tail = output.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            server.stop()
            raise LlmkitError(
                f"llmkit serve exited with code {process.returncode} before answering: {tail[0]}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return server
        time.sleep(0.05)
    server.stop()
    raise LlmkitError(f"llmkit serve: no answer from {url}/health within {timeout_s:.0f} s (see {output})")


def _config_argv(cfg: ServeConfig) -> list[str]:
    argv = ["--backend", cfg.backend, "--threads", str(cfg.threads), "--max-batch-size", str(cfg.max_batch_size),
            "--max-wait-ms", str(cfg.max_wait_ms), "--max-texts", str(cfg.max_texts),
            "--max-body-bytes", str(cfg.max_body_bytes)]  # fmt: skip
    argv += [] if cfg.batching else ["--no-batching"]
    argv += ["--log", cfg.log_path] if cfg.log_path else []
    return argv + (["--log-texts"] if cfg.log_texts else [])


# ----------------------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``llmkit serve`` (and ``python -m llmkit.deploy.serve``)."""
    d = ServeConfig()
    parser.add_argument("bundle", help="a bundle folder written by llmkit.deploy.export.build_bundle")
    parser.add_argument("--backend", choices=BACKENDS, default=d.backend, help=f"default {d.backend}")
    parser.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")
    parser.add_argument("--port", type=int, default=0, help="default 0: a free port, printed at start")
    parser.add_argument("--threads", type=int, default=d.threads, help=f"model threads (default {d.threads})")
    parser.add_argument(
        "--no-batching", dest="batching", action="store_false", help="one request per model call"
    )
    parser.add_argument("--max-batch-size", type=int, default=d.max_batch_size, help="texts per model call")
    parser.add_argument("--max-wait-ms", type=float, default=d.max_wait_ms, help="wait for a batch to fill")
    parser.add_argument("--max-texts", type=int, default=d.max_texts, help="texts per request (more: 413)")
    parser.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes, help="body size (more: 413)")
    parser.add_argument("--log", dest="log_path", help="append a JSONL line per request to this file")
    parser.add_argument("--log-texts", action="store_true", help="also log the raw texts (off by default)")
    parser.add_argument("--fd", type=int, help=argparse.SUPPRESS)  # a bound socket from serve.start
    parser.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)  # exit when this process is gone


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM (or, with ``--parent-pid``, until the parent is gone)."""
    import uvicorn

    cfg = ServeConfig(**{k: getattr(args, k) for k in ServeConfig.__dataclass_fields__})
    app = create_app(args.bundle, cfg)
    if args.fd is not None:
        sock = socket.socket(fileno=args.fd)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid, server), daemon=True).start()
    print(f"llmkit serve: {cfg.backend} on http://{host}:{port} (batching {'on' if cfg.batching else 'off'})",
          flush=True)  # fmt: skip
    server.run(sockets=[sock])
    return 0


def _watch_parent(parent_pid: int, server: Any) -> None:
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    server.should_exit = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llmkit.deploy.serve", description="Serve a bundle over HTTP."
    )
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except LlmkitError as exc:
        print(f"llmkit serve: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
