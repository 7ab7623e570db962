"""Notebook 07's federation as a Flower app: the same ClientApp and ServerApp, configured by ``pyproject.toml``.

Each SuperNode is one hospital: ``node_config["partition-id"]`` says which, ``num-partitions`` how many.
Every node derives the same partition from the run config (task, partition, alpha, seed) and keeps only
its own share; the ServerApp holds the shared test set for central evaluation.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from llmkit.federated import runtime

runtime.install_thread_backend()  # before Flower builds the simulation backend (no Ray here)

from flwr.app import Context  # noqa: E402
from flwr.serverapp import Grid, ServerApp  # noqa: E402

from llmkit.core.errors import LlmkitError  # noqa: E402
from llmkit.federated import hospitals, simulation  # noqa: E402


@lru_cache(maxsize=4)
def _federation(task: str, partition: str, n_hospitals: int, alpha: float, seed: int) -> hospitals.Federation:
    if task == "pima":
        feds = hospitals.load_pima_federations(n_hospitals, alpha, seed)
    elif task == "diabetes_notes":
        feds = hospitals.load_note_federations(n_hospitals, alpha, seed)
    else:
        raise LlmkitError(f"run config task: expected 'pima' or 'diabetes_notes', got {task!r}")
    if partition not in feds:
        raise LlmkitError(f"run config partition: expected one of {', '.join(feds)}, got {partition!r}")
    return feds[partition]


def _federation_for(run_config: Any, n_hospitals: int) -> hospitals.Federation:
    return _federation(
        str(run_config["task"]), str(run_config["partition"]), n_hospitals,
        float(run_config["alpha"]), int(run_config["seed"]),
    )  # fmt: skip


def _head(run_config: Any) -> simulation.HeadConfig:
    return simulation.HeadConfig(
        hidden=int(run_config["hidden"]), learning_rate=float(run_config["learning-rate"]),
        batch_size=int(run_config["batch-size"]), local_epochs=int(run_config["local-epochs"]),
    )  # fmt: skip


def _load(context: Context) -> Any:
    fed = _federation_for(context.run_config, int(context.node_config["num-partitions"]))
    k = int(context.node_config["partition-id"])
    return fed.x[k], fed.y[k]


client = simulation.client_app(_load, lambda c: _head(c.run_config), lambda c: int(c.run_config["seed"]))
server = ServerApp()


@server.main()
def main(grid: Grid, context: Context) -> None:
    rc = context.run_config
    n_hospitals = len(list(grid.get_node_ids()))
    fed = _federation_for(rc, n_hospitals)
    cfg = _head(rc)
    strategy, _ = simulation.make_strategy(
        str(rc["strategy"]), n_hospitals,
        proximal_mu=float(rc["proximal-mu"]), server_momentum=float(rc["server-momentum"]),
    )  # fmt: skip
    initial = simulation.get_arrays(simulation.build_head(fed.dim, cfg, int(rc["seed"])))
    evaluate_fn = simulation.central_evaluate(fed, cfg)
    result, seconds = simulation.run_strategy(
        grid, strategy, initial, int(rc["num-server-rounds"]), evaluate_fn
    )
    if rc["out-file"]:
        rounds = sorted(result.evaluate_metrics_serverapp)
        summary = {
            "task": fed.task, "partition": fed.partition, "hospitals": n_hospitals, "strategy": rc["strategy"],
            "accuracy": [float(result.evaluate_metrics_serverapp[r]["accuracy"]) for r in rounds],
            "seconds": seconds,
        }  # fmt: skip
        Path(str(rc["out-file"])).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
