"""Federated learning (联邦学习, notebook 07): hospitals train one model on Flower without pooling their data.

The hospitals' data live in :mod:`llmkit.federated.hospitals` (partitions, house styles, cached embeddings). This
module holds the model and the federation:

* the model is a small MLP **head on frozen MiniLM sentence embeddings** (:func:`build_head`): the encoder's
  22.7M weights never move and each note is embedded once (cached), so a client's round is a few ms of
  training and only the head's ~25k weights (~100 kB) travel. A fine-tuned encoder would send 91 MB
  each way per round and take minutes per round on two cores;
* :func:`client_app` and :func:`server_app` are a Flower ``ClientApp`` (``@app.train``: load the global
  weights, train locally, send weights + metrics back) and ``ServerApp`` (``strategy.start(grid=...,
  initial_arrays=ArrayRecord(...))``) -- the same builders serve ``run_simulation`` here and ``flwr run``
  (``llmkit/federated/flower_app``);
* :func:`simulate` runs them with ``flwr.simulation.run_simulation`` for FedAvg, FedProx, FedAvgM and
  FedAvg under client-side DP, and returns accuracy on the shared test set after every round, bytes per
  round, epsilon and the log of every message the clients sent;
* :func:`train_central` (pooled data) and :func:`train_alone` (each hospital by itself) are the baselines,
  and :func:`fedavg_by_hand` is the algorithm in ten lines, the lesson beside Flower.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.core.errors import LlmkitError
from llmkit.federated import runtime
from llmkit.federated.hospitals import Federation

if TYPE_CHECKING:
    import torch
    from flwr.app import ArrayRecord, Context
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp
    from flwr.serverapp.strategy import Strategy

STRATEGIES: tuple[str, ...] = ("fedavg", "fedprox", "fedavgm")
UNIFORM = "uniform-weight"  # metric every client reports as 1.0: DP averages updates without size weights


@dataclass(frozen=True)
class HeadConfig:
    """The trainable head and each client's local training."""

    hidden: int = 64  # units of the hidden layer; 0 -> logistic regression
    learning_rate: float = 0.003  # SGD with momentum, restarted each round; 0.003 won on validation (central)
    momentum: float = 0.9
    batch_size: int = 32
    local_epochs: int = 1  # passes over the hospital's data per round


@dataclass(frozen=True)
class DPSettings:
    """Client-side differential privacy: clip each update to ``clipping_norm``, noise ``z C / n`` on the mean."""

    noise_multiplier: float  # z; 0 clips without noise (no privacy, epsilon = inf)
    clipping_norm: float = 0.05  # C, L2 norm of one hospital's update (its weights minus the global ones)
    delta: float = 1e-3  # the delta epsilon is reported at (<< 1 / number of hospitals)


# ------------------------------------------------------------------------------------------- model


def build_head(dim: int, cfg: HeadConfig = HeadConfig(), seed: int = 0) -> torch.nn.Module:
    """The head: ``dim`` -> ``hidden`` -> 2 (or ``dim`` -> 2 when ``hidden == 0``), seeded."""
    import torch

    torch.manual_seed(seed)
    if cfg.hidden:
        return torch.nn.Sequential(
            torch.nn.Linear(dim, cfg.hidden), torch.nn.ReLU(), torch.nn.Linear(cfg.hidden, 2)
        )
    return torch.nn.Sequential(torch.nn.Linear(dim, 2))


def get_arrays(model: torch.nn.Module) -> ArrayRecord:
    """The model's weights as a Flower ``ArrayRecord`` (what travels)."""
    from flwr.app import ArrayRecord

    return ArrayRecord(model.state_dict())


def set_arrays(model: torch.nn.Module, arrays: ArrayRecord) -> torch.nn.Module:
    model.load_state_dict(arrays.to_torch_state_dict(), strict=True)
    return model


def train_local(
    model: torch.nn.Module,
    x: np.ndarray,  # [n, dim]
    y: np.ndarray,  # [n]
    cfg: HeadConfig,
    seed: int,
    proximal_mu: float = 0.0,  # FedProx: + mu / 2 ||w - w_global||^2 (Li et al. 2020)
) -> float:
    """Train ``model`` in place for ``cfg.local_epochs`` on one hospital's data; return the mean loss."""
    import torch

    xs, ys = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(y.astype(np.int64))
    anchor = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=cfg.learning_rate, momentum=cfg.momentum)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    model.train()
    for _ in range(cfg.local_epochs):
        for rows in torch.randperm(len(ys), generator=gen).split(cfg.batch_size):
            loss = torch.nn.functional.cross_entropy(model(xs[rows]), ys[rows])
            losses.append(float(loss.detach()))
            if proximal_mu:
                loss = loss + proximal_mu / 2 * sum(
                    ((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor, strict=True)
                )
            opt.zero_grad()
            loss.backward()
            opt.step()
    return float(np.mean(losses)) if losses else float("nan")


def evaluate(model: torch.nn.Module, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(loss, accuracy)`` of ``model`` on ``x, y``."""
    import torch

    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
        target = torch.from_numpy(y.astype(np.int64))
        loss = float(torch.nn.functional.cross_entropy(logits, target))
        return loss, float((logits.argmax(1) == target).float().mean())


def round_seed(seed: int, server_round: int, partition: int) -> int:
    """The seed of one hospital's shuffling in one round (independent of thread timing)."""
    return (seed * 1_000_003 + server_round * 1009 + partition) % (2**31)


# --------------------------------------------------------------------------------------- baselines


def train_central(fed: Federation, cfg: HeadConfig, epochs: int, seed: int = 0) -> list[float]:
    """Test accuracy after each epoch of training one head on every hospital's data pooled."""
    x, y = fed.pooled()
    model = build_head(fed.dim, cfg, seed)
    curve = []
    for epoch in range(1, epochs + 1):
        train_local(model, x, y, cfg, round_seed(seed, epoch, -1))
        curve.append(evaluate(model, fed.x_test, fed.y_test)[1])
    return curve


def train_alone(fed: Federation, cfg: HeadConfig, epochs: int, seed: int = 0) -> list[float]:
    """Each hospital's own head, trained for ``epochs`` on its data only: its accuracy on the shared test set."""
    out = []
    for k in range(fed.n_hospitals):
        model = build_head(fed.dim, cfg, seed)
        for epoch in range(1, epochs + 1):
            train_local(model, fed.x[k], fed.y[k], cfg, round_seed(seed, epoch, k))
        out.append(evaluate(model, fed.x_test, fed.y_test)[1])
    return out


def fedavg_by_hand(fed: Federation, cfg: HeadConfig, rounds: int, seed: int = 0) -> list[float]:
    """FedAvg (McMahan et al. 2017) without a framework: test accuracy after each round."""
    global_model, curve = build_head(fed.dim, cfg, seed), []
    for r in range(1, rounds + 1):
        states, sizes = [], []
        for k in range(fed.n_hospitals):  # each hospital: start from the global weights, train locally
            local = build_head(fed.dim, cfg, seed)
            local.load_state_dict(global_model.state_dict())
            train_local(local, fed.x[k], fed.y[k], cfg, round_seed(seed, r, k))
            states.append(local.state_dict())
            sizes.append(len(fed.y[k]))
        weights = [n / sum(sizes) for n in sizes]  # the server: average the weights, by hospital size
        global_model.load_state_dict(
            {key: sum(w * s[key] for w, s in zip(weights, states, strict=True)) for key in states[0]}
        )
        curve.append(evaluate(global_model, fed.x_test, fed.y_test)[1])
    return curve


# -------------------------------------------------------------------------------------- Flower apps


def client_app(
    load: Callable[[Context], tuple[np.ndarray, np.ndarray]],  # this node's (x, y), from its context
    cfg: HeadConfig | Callable[[Context], HeadConfig],  # or read from the run config (flwr run)
    seed: int | Callable[[Context], int] = 0,
    mods: Sequence[Callable] = (),
) -> ClientApp:
    """The hospital: receive the global head, train it on local data, send back only weights and metrics."""
    from flwr.app import Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp

    app = ClientApp(mods=list(mods))

    def settings(context: Context) -> tuple[HeadConfig, int]:
        return (cfg(context) if callable(cfg) else cfg), (seed(context) if callable(seed) else seed)

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        (x, y), (head, base_seed) = load(context), settings(context)
        model = set_arrays(build_head(x.shape[1], head, base_seed), msg.content["arrays"])
        config = msg.content["config"]
        partition = int(context.node_config.get("partition-id", 0))
        rseed = round_seed(base_seed, int(config.get("server-round", 0)), partition)
        loss = train_local(model, x, y, head, rseed, proximal_mu=float(config.get("proximal-mu", 0.0)))
        metrics = MetricRecord({"train-loss": loss, "num-examples": len(y), UNIFORM: 1.0})
        return Message(RecordDict({"arrays": get_arrays(model), "metrics": metrics}), reply_to=msg)

    @app.evaluate()
    def local_evaluate(msg: Message, context: Context) -> Message:
        (x, y), (head, base_seed) = load(context), settings(context)
        model = set_arrays(build_head(x.shape[1], head, base_seed), msg.content["arrays"])
        loss, accuracy = evaluate(model, x, y)
        metrics = {"eval-loss": loss, "eval-accuracy": accuracy, "num-examples": len(y), UNIFORM: 1.0}
        return Message(RecordDict({"metrics": MetricRecord(metrics)}), reply_to=msg)

    del train, local_evaluate  # registered on the app
    return app


def make_strategy(
    name: str,
    n_hospitals: int,
    *,
    proximal_mu: float = 0.1,  # FedProx
    server_momentum: float = 0.9,  # FedAvgM (Hsu et al. 2019); server learning rate 1
    dp: DPSettings | None = None,
) -> tuple[Strategy, Any]:
    """A Flower strategy over every hospital each round (and its accountant when ``dp`` is set)."""
    from flwr.serverapp.strategy import DifferentialPrivacyClientSideFixedClipping, FedAvg, FedAvgM, FedProx

    common = dict(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=n_hospitals,
                  min_available_nodes=n_hospitals)  # fmt: skip
    if name not in STRATEGIES:
        raise LlmkitError(f"strategy: expected one of {', '.join(STRATEGIES)}, got {name!r}")
    if dp is not None:
        if name != "fedavg":
            raise LlmkitError(f"strategy: client-side DP wraps fedavg here, got {name!r}")
        from llmkit.federated.privacy import GaussianAccountant

        accountant = GaussianAccountant(dp.delta, n_hospitals) if dp.noise_multiplier > 0 else None
        inner = FedAvg(weighted_by_key=UNIFORM, **common)
        wrapped = DifferentialPrivacyClientSideFixedClipping(
            inner, dp.noise_multiplier, dp.clipping_norm, n_hospitals, accountant=accountant
        )
        return wrapped, accountant
    if name == "fedprox":
        return FedProx(proximal_mu=proximal_mu, **common), None
    if name == "fedavgm":
        return FedAvgM(server_momentum=server_momentum, **common), None
    return FedAvg(**common), None


def run_strategy(
    grid: Grid,
    strategy: Strategy,
    initial: ArrayRecord,
    num_rounds: int,
    evaluate_fn: Callable[[int, ArrayRecord], Any] | None,
    order: dict[int, int] | None = None,  # node id -> hospital, to aggregate in a fixed order
) -> tuple[Any, float]:
    """A ServerApp's body: ``strategy.start(grid=..., initial_arrays=...)``; returns Flower's Result and seconds."""
    start = time.perf_counter()
    ordered = runtime.OrderedGrid(grid, order if order is not None else {})
    result = strategy.start(
        grid=ordered, initial_arrays=initial, num_rounds=num_rounds, evaluate_fn=evaluate_fn
    )
    return result, time.perf_counter() - start


def server_app(
    strategy: Strategy,
    initial: ArrayRecord,
    num_rounds: int,
    evaluate_fn: Callable[[int, ArrayRecord], Any] | None,
    out: dict[str, Any],  # receives "result" (Flower's Result) and "seconds"
    order: dict[int, int] | None = None,
) -> ServerApp:
    """The coordinator: run ``strategy`` for ``num_rounds`` from ``initial``, evaluating centrally each round."""
    from flwr.serverapp import ServerApp

    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        out["result"], out["seconds"] = run_strategy(grid, strategy, initial, num_rounds, evaluate_fn, order)

    del main
    return app


def central_evaluate(fed: Federation, cfg: HeadConfig) -> Callable[[int, ArrayRecord], Any]:
    """``evaluate_fn`` for a strategy: the global head's loss and accuracy on the shared test set."""
    from flwr.app import MetricRecord

    def fn(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        loss, accuracy = evaluate(set_arrays(build_head(fed.dim, cfg), arrays), fed.x_test, fed.y_test)
        return MetricRecord({"loss": loss, "accuracy": accuracy})

    return fn


# --------------------------------------------------------------------------------------- simulation


@dataclass
class FederatedRun:
    """What one federated run measured."""

    name: str
    accuracy: list[float]  # shared test set, after round 0 (the initial head), 1, 2, ...
    bytes_down: list[int]  # per round: the server's messages to every hospital
    bytes_up: list[int]  # per round: every hospital's reply
    seconds: float  # the strategy's rounds (run_simulation's start and stop excluded)
    total_seconds: float  # the whole run_simulation call
    epsilon: float  # at the DP settings' delta; inf without noise, nan without DP
    log: runtime.MessageLog = field(repr=False, default_factory=runtime.MessageLog)
    arrays: Any = field(repr=False, default=None)

    def best_round_reaching(self, target: float) -> int | None:
        """The first round whose accuracy is at least ``target`` (None if none is)."""
        return next((r for r, a in enumerate(self.accuracy) if r > 0 and a >= target), None)


def simulate(
    fed: Federation,
    strategy: str = "fedavg",
    rounds: int = 20,
    cfg: HeadConfig = HeadConfig(),
    seed: int = 0,
    *,
    dp: DPSettings | None = None,
    proximal_mu: float = 0.1,
    server_momentum: float = 0.9,
    workers: int = 1,  # ClientApp calls in flight at once (ThreadBackend threads)
    name: str | None = None,
) -> FederatedRun:
    """Run the federation with Flower's ``run_simulation`` (Message API) on :class:`ThreadBackend`."""
    import flwr.simulation

    if rounds < 1:
        raise LlmkitError(f"rounds: expected >= 1, got {rounds}")
    np.random.seed(seed)  # Flower's DP noise is drawn from numpy's global generator
    order: dict[int, int] = {}

    def load(context: Context) -> tuple[np.ndarray, np.ndarray]:
        k = int(context.node_config["partition-id"])
        order[context.node_id] = k
        return fed.x[k], fed.y[k]

    log = runtime.MessageLog()
    mods: list[Callable] = [log]
    if dp is not None:
        from flwr.clientapp.mod import fixedclipping_mod

        mods.append(fixedclipping_mod)  # inside the log: the log sees the clipped update that leaves
    strat, accountant = make_strategy(strategy, fed.n_hospitals, proximal_mu=proximal_mu,
                                      server_momentum=server_momentum, dp=dp)  # fmt: skip
    out: dict[str, Any] = {}
    server = server_app(
        strat, get_arrays(build_head(fed.dim, cfg, seed)), rounds, central_evaluate(fed, cfg), out, order
    )
    start = time.perf_counter()
    with runtime.use_thread_backend():
        flwr.simulation.run_simulation(
            server_app=server,
            client_app=client_app(load, cfg, seed, mods),
            num_supernodes=fed.n_hospitals,
            backend_name=runtime.BACKEND_NAME,
            backend_config={"init_args": {"num_cpus": workers}},
        )
    total = time.perf_counter() - start
    if "result" not in out:
        raise LlmkitError(f"simulate({strategy!r}): the ServerApp did not finish; see Flower's log above")
    result = out["result"]
    accuracy = [float(result.evaluate_metrics_serverapp[r]["accuracy"]) for r in range(rounds + 1)]
    per_round = log.bytes_per_round()
    epsilon = (
        math.nan if dp is None else (math.inf if accountant is None else accountant.get_epsilon(dp.delta))
    )
    return FederatedRun(
        name=name or (strategy if dp is None else f"fedavg+dp(z={dp.noise_multiplier:g})"),
        accuracy=accuracy,
        bytes_down=[per_round.get(r, (0, 0))[0] for r in range(1, rounds + 1)],
        bytes_up=[per_round.get(r, (0, 0))[1] for r in range(1, rounds + 1)],
        seconds=float(out["seconds"]),
        total_seconds=total,
        epsilon=float(epsilon),
        log=log,
        arrays=result.arrays,
    )


# ------------------------------------------------------------------------------------------ plots


def plot_rounds(
    curves: dict[str, Sequence[float]],  # label -> accuracy after round 0, 1, ...
    references: dict[str, float] | None = None,  # label -> a level drawn as a dashed line
    ax: Any = None,
    title: str = "Accuracy on the shared test set, round by round",
) -> Any:
    """Accuracy against round for each run, with reference levels (centralized, hospital-alone mean)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4))
    for i, (label, curve) in enumerate(curves.items()):
        ax.plot(range(len(curve)), curve, marker="o", markersize=3, label=label, color=f"C{i}")
    for j, (label, level) in enumerate((references or {}).items()):
        ax.axhline(level, linestyle="--", linewidth=1, color=f"C{len(curves) + j}", label=label)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("round")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax
