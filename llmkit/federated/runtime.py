"""Running Flower apps here: offline settings, an in-process backend, message logs and `flwr run` (notebook 07).

Flower 1.42 runs a simulation through its *Simulation Runtime*: a LinkState, a Grid that the ServerApp
talks to, and a *backend* that executes each ClientApp call. The only backend it ships is Ray's, and Ray is
not installed here (nor needed: a ClientApp that trains a small head on cached embeddings takes
milliseconds). Flower's maintainers proposed a thread-pool backend (flwrlabs/flower#3078) and a
process backend (#3989); neither was merged. :class:`ThreadBackend` implements Flower's public
``Backend`` interface with a thread pool, and :func:`use_thread_backend` puts it where the runtime looks for
its backend. Everything else -- ``run_simulation``, the strategies, the Grid, the LinkState, the ClientApp
and its mods -- is Flower's own code.

* :func:`flower_env` sets the variables every Flower process here needs: telemetry off (Flower posts usage
  events to its servers by default), no update check, no runtime dependency installation (else ``flwr run``
  builds a fresh environment with uv and downloads CUDA torch) and ``FLWR_HOME`` inside the run folder.
* :class:`MessageLog` is a ClientApp *mod* that records every message a client receives and sends: the
  bytes on the wire per round, and what kind of records left the client (:meth:`MessageLog.audit`).
* :class:`OrderedGrid` hands a strategy its replies in hospital order, so that the float sums of an
  aggregation do not depend on which thread finished first (same seed, same metrics).
* :func:`start_superlink`, :func:`flwr_run` and :func:`stop_process` run the same apps with ``flwr run``
  against a local SuperLink whose process id we own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    from flwr.app import Context, Message
    from flwr.clientapp import ClientApp

BACKEND_NAME = "llmkit-threads"  # the simulation backend name that selects ThreadBackend
_RAY_MODULE = (
    "flwr.server.superlink.fleet.vce.backend.raybackend"  # where the runtime imports its backend from
)


def flower_env(home: str | Path | None = None) -> dict[str, str]:
    """Set (and return) the environment every Flower process here needs; call before importing flwr.

    ``home`` becomes ``FLWR_HOME`` (Flower's state, logs and installed apps); without it an existing
    ``FLWR_HOME`` is kept, else a folder under the llmkit cache is used -- never ``~/.flwr``.
    """
    from llmkit.core.io import cache_dir

    env = {
        "FLWR_TELEMETRY_ENABLED": "0",  # read when flwr is imported: offline means no usage events posted
        "FLWR_DISABLE_UPDATE_CHECK": "1",
        "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
    }
    if home is not None:
        env["FLWR_HOME"] = str(Path(home).expanduser().resolve())
    elif not os.environ.get("FLWR_HOME"):
        env["FLWR_HOME"] = str(cache_dir("flwr"))
    os.environ.update(env)
    Path(os.environ["FLWR_HOME"]).mkdir(parents=True, exist_ok=True)
    if "flwr.supercore.telemetry" in sys.modules:  # imported before us: switch it off where it reads it
        sys.modules["flwr.supercore.telemetry"].FLWR_TELEMETRY_ENABLED = "0"
    return {k: os.environ[k] for k in (*env, "FLWR_HOME")}


flower_env()  # importing this module makes the process safe for flwr, whoever imports flwr next


# ------------------------------------------------------------------------------------------ backend


def _backend_base() -> type:
    from flwr.server.superlink.fleet.vce.backend import Backend

    return Backend


class ThreadBackend(_backend_base()):  # type: ignore[misc]
    """A Flower simulation backend that runs each ClientApp call on one of ``num_workers`` threads.

    Flower's runtime starts ``num_workers`` worker threads that each call :meth:`process_message`; the
    ClientApp runs in this process, so it shares the process's torch threads (see ``hardware.set_threads``).
    ``backend_config["init_args"]["num_cpus"]`` sets the number of threads (default 1).
    """

    def __init__(self, backend_config: dict[str, Any] | None = None) -> None:
        init_args = (backend_config or {}).get("init_args") or {}
        self.workers = max(1, int(init_args.get("num_cpus") or 1))  # CPUs the backend may use: its threads
        self.app_fn: Callable[[], ClientApp] | None = None

    def build(self, app_fn: Callable[[], ClientApp]) -> None:
        self.app_fn = app_fn

    @property
    def num_workers(self) -> int:
        return self.workers

    def is_worker_idle(self) -> bool:
        return True

    def terminate(self) -> None:
        self.app_fn = None

    def process_message(self, message: Message, context: Context) -> tuple[Message, Context]:
        if self.app_fn is None:
            raise LlmkitError("ThreadBackend: build() was not called before process_message()")
        return self.app_fn()(message=message, context=context), context


def install_thread_backend() -> None:
    """Make Flower's Simulation Runtime use :class:`ThreadBackend` in this process (for ``flwr run``).

    The runtime imports ``RayBackend`` from ``flwr...vce.backend.raybackend`` when it starts the
    clients; a module registered under that name that holds this class takes its place. An app module
    calls this at import time: the runtime imports the ClientApp before it builds the backend.
    """
    shim = types.ModuleType(_RAY_MODULE)
    shim.RayBackend = ThreadBackend  # type: ignore[attr-defined]
    shim.__doc__ = "llmkit: ThreadBackend in place of Ray (see llmkit.federated.runtime)"
    sys.modules[_RAY_MODULE] = shim


@contextmanager
def use_thread_backend() -> Iterator[None]:
    """Within the block, simulations run on :class:`ThreadBackend`; the previous module is restored after."""
    previous = sys.modules.get(_RAY_MODULE)
    install_thread_backend()
    try:
        yield
    finally:
        if previous is None:
            sys.modules.pop(_RAY_MODULE, None)
        else:
            sys.modules[_RAY_MODULE] = previous


# -------------------------------------------------------------------------------------- grid order


class OrderedGrid:
    """A Grid that returns each batch of replies sorted by the hospital (partition) that sent it.

    ``order`` maps a node id to its sort key; the simulation fills it from each node's
    ``partition-id`` (unknown nodes sort last, by node id). Everything else is the wrapped Grid's.
    """

    def __init__(self, grid: Any, order: dict[int, int]) -> None:
        self._grid, self._order = grid, order

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> list[Message]:
        replies = list(self._grid.send_and_receive(messages, timeout=timeout))
        far = 1 << 62
        return sorted(
            replies,
            key=lambda m: (self._order.get(m.metadata.src_node_id, far), m.metadata.src_node_id),
        )


# ------------------------------------------------------------------------------------- message log


@dataclass(frozen=True)
class Sent:
    """One message a client sent back: its round, what records it carried and their size."""

    partition: int  # the hospital
    server_round: int
    message_type: str  # "train" | "evaluate" | ...
    records: dict[str, str]  # record name -> record type (ArrayRecord, MetricRecord, ConfigRecord)
    bytes_in: int  # the server's message to the client (Flower's count_bytes of its records)
    bytes_out: int  # the reply
    payload: bytes  # every array's bytes and every metric's value, as they leave the client


def _payload(content: Any) -> bytes:
    from flwr.app import ArrayRecord, ConfigRecord, MetricRecord

    parts: list[bytes] = []
    for record in content.values():
        if isinstance(record, ArrayRecord):
            parts += [array.data for array in record.values()]
        elif isinstance(record, MetricRecord | ConfigRecord):
            parts += [repr((k, v)).encode() for k, v in record.items()]
    return b"".join(parts)


@dataclass
class MessageLog:
    """A ClientApp mod that records every message a client sends (use it as the outermost mod)."""

    sent: list[Sent] = field(default_factory=list)

    def __call__(self, msg: Message, context: Context, call_next: Callable[..., Message]) -> Message:
        bytes_in = sum(record.count_bytes() for record in msg.content.values())
        reply = call_next(msg, context)
        if not reply.has_error():
            config = next(iter(msg.content.config_records.values()), {})
            self.sent.append(
                Sent(
                    partition=int(context.node_config.get("partition-id", -1)),
                    server_round=int(config.get("server-round", 0)),
                    message_type=str(msg.metadata.message_type),
                    records={name: type(r).__name__ for name, r in reply.content.items()},
                    bytes_in=bytes_in,
                    bytes_out=sum(record.count_bytes() for record in reply.content.values()),
                    payload=_payload(reply.content),
                )
            )
        return reply

    def bytes_per_round(self) -> dict[int, tuple[int, int]]:
        """``{round: (bytes server -> clients, bytes clients -> server)}`` over every client."""
        out: dict[int, tuple[int, int]] = {}
        for s in self.sent:
            down, up = out.get(s.server_round, (0, 0))
            out[s.server_round] = (down + s.bytes_in, up + s.bytes_out)
        return dict(sorted(out.items()))

    def audit(
        self, private: Iterable[bytes], allowed: tuple[str, ...] = ("ArrayRecord", "MetricRecord")
    ) -> int:
        """Check every sent message: only ``allowed`` record types, and none of the ``private`` byte strings.

        ``private`` holds what must never leave a hospital (each note's text, each record's row of
        features as stored), searched for at every byte offset of what each message carried. Returns the
        number of messages checked; raises :class:`LlmkitError` naming the first message that breaks the rule.
        """
        finder = _Finder([p for p in private if len(p) >= 8])
        for s in self.sent:
            bad = sorted(set(s.records.values()) - set(allowed))
            if bad:
                raise LlmkitError(f"hospital {s.partition}, round {s.server_round}: sent {bad} records")
            if finder.find(s.payload) is not None:
                raise LlmkitError(
                    f"hospital {s.partition}, round {s.server_round}: a private record left the client"
                )
        return len(self.sent)


class _Finder:
    """Finds any of many byte strings (each >= 8 bytes long) in a buffer, fast: their first 8 bytes form a
    sorted index that the buffer's 8-byte window at every offset is looked up in; hits are confirmed in full."""

    def __init__(self, secrets: list[bytes]) -> None:
        import numpy as np

        self.secrets = secrets
        heads = (
            np.frombuffer(b"".join(x[:8] for x in secrets), dtype="<u8") if secrets else np.zeros(0, "<u8")
        )
        self.order = np.argsort(heads, kind="stable")
        self.heads = heads[self.order]

    def find(self, buffer: bytes) -> bytes | None:
        import numpy as np

        if len(buffer) < 8 or not self.secrets:
            return None
        windows = np.lib.stride_tricks.sliding_window_view(np.frombuffer(buffer, dtype=np.uint8), 8)
        values = np.ascontiguousarray(windows).view("<u8").ravel()  # [len - 7]: the 8 bytes at each offset
        lo = np.searchsorted(self.heads, values, "left")
        hit = np.flatnonzero(lo < len(self.heads))
        hit = hit[self.heads[lo[hit]] == values[hit]]
        for offset in hit:
            end = np.searchsorted(self.heads, values[offset], "right")
            for i in self.order[lo[offset] : end]:
                secret = self.secrets[i]
                if buffer[offset : offset + len(secret)] == secret:
                    return secret
        return None


# ------------------------------------------------------------------------------------------ flwr run


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bin(name: str) -> str:
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        raise LlmkitError(f"{name}: not found beside {sys.executable} nor on PATH (is flwr installed?)")
    return found


def write_connection(home: Path, name: str, port: int, num_supernodes: int) -> Path:
    """Write ``FLWR_HOME/config.toml``: one SuperLink connection, simulation on :class:`ThreadBackend`."""
    path = home / "config.toml"
    path.write_text(
        f'[superlink]\ndefault = "{name}"\n\n[superlink.{name}]\naddress = "127.0.0.1:{port}"\ninsecure = true\n'
        f'options.num-supernodes = {num_supernodes}\noptions.backend.name = "{BACKEND_NAME}"\n',
        encoding="utf-8",
    )
    return path


def _process_env(home: Path) -> dict[str, str]:
    """The environment of a Flower process: :func:`flower_env`, and this Python's scripts first on PATH.

    The SuperLink starts ``flower-superexec`` and ``flwr-simulation`` by name, so they must be found.
    """
    env = os.environ | flower_env(home)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def start_superlink(home: str | Path, port: int | None = None, timeout_s: float = 30.0) -> subprocess.Popen:
    """Start a local SuperLink (simulation mode) with its state under ``home``; wait until it answers.

    The caller owns the returned process and stops it with :func:`stop_process`.
    """
    import httpx

    home = Path(home)
    env = _process_env(home)
    port = port or free_port()
    log = home / "superlink.log"
    cmd = [_bin("flower-superlink"), "--insecure", "--simulation", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--disable-runtime-dependency-installation", "--log-file", str(log)]
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    process.port = port  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LlmkitError(f"flower-superlink exited with code {process.returncode}; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).is_success:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_process(process)
    raise LlmkitError(
        f"flower-superlink did not answer on 127.0.0.1:{port} within {timeout_s:.0f} s; see {log}"
    )


def stop_process(process: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """Stop a process we started (terminate, then kill), and wait for it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def flwr_run(
    app_dir: str | Path,
    home: str | Path,
    port: int,
    run_config: dict[str, Any] | None = None,
    num_supernodes: int = 5,
    timeout_s: float = 300.0,
) -> subprocess.CompletedProcess:
    """``flwr run <app_dir> <connection> --stream`` against the SuperLink on ``port``; returns the finished run."""
    home = Path(home)
    env = _process_env(home)
    write_connection(home, "llmkit", port, num_supernodes)
    cmd = [_bin("flwr"), "run", str(app_dir), "llmkit", "--stream"]
    if run_config:
        cmd += ["--run-config", " ".join(f"{k}={_toml(v)}" for k, v in run_config.items())]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)
