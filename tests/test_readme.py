"""Every shell command the README shows is executed here (smoke profile, a tiny table, a tiny bundle), or is named
below with the test or CI step that runs it.

Commands are read from the README's ```bash blocks (continuation lines joined, trailing comments dropped), so a
command added to the README without a way to test it fails this file.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from llmkit.core import config

ROOT = config.repo_root()
README = ROOT / "README.md"
BIN = Path(sys.executable).parent

# Commands this file does not execute, and what does.
ELSEWHERE = {
    "make run": "the whole course at lesson (27 min): measured from an empty cache for each release note",
    "make test": "CI itself (.ci/run calls it)",
    ".venv/bin/llmkit run": "every notebook at lesson, the same runner `make run` calls",
    "python3.11 -m venv .venv": "`make install` (every CI run) runs these lines; test_install_lines_are_the_makefiles",
    ".venv/bin/pip install --no-deps -r requirements.lock -r requirements-assets.lock": "as above",
    ".venv/bin/pip install --no-deps -e .": "as above",
}


def readme_commands(text: str | None = None) -> list[str]:
    """The commands of the README's bash blocks, one string each."""
    text = README.read_text(encoding="utf-8") if text is None else text
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(shlex.join(words))
    return commands


def env_vars(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, LLMKIT_PROFILE="smoke", LLMKIT_OUTPUTS=str(tmp_path / "outputs"), MPLBACKEND="Agg")
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PATH=f"{BIN}:{env.get('PATH', '')}")
    env.pop("LLMKIT_OUT", None)
    return env


def _run(command: str, tmp_path: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    words = [w.replace(".venv/bin/", f"{BIN}/") for w in shlex.split(command)]
    out = subprocess.run(
        words, cwd=tmp_path, env=env_vars(tmp_path), capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, f"{command}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    return out


def _commands(prefix: str) -> list[str]:
    found = [c for c in readme_commands() if c.startswith(prefix)]
    assert found, f"the README shows no command starting {prefix!r}"
    return found


def test_every_readme_command_is_tested_here():
    tested = ("llmkit run", "llmkit report", "papermill", "llmkit serve", "curl")
    for command in readme_commands():
        words = command.replace(".venv/bin/", "")
        assert command in ELSEWHERE or words.startswith(tested), f"README command not tested: {command}"


def test_install_lines_are_the_makefiles():
    makefile = (ROOT / "Makefile").read_text()
    assert "-m pip install --quiet --no-deps -r requirements.lock -r requirements-assets.lock" in makefile
    assert "-m pip install --quiet --no-deps" in makefile and "-e ." in makefile
    assert "$(PYTHON) -m venv $(VENV)" in makefile and "PYTHON ?= python3.11" in makefile


def _running_notebooks_block(workdir: Path) -> list[str]:
    """The 'Running notebooks' block, in order: runs, a run into a folder with a parameter, the report, papermill.
    Returns the report's stdout."""
    reports = []
    for command in _commands(".venv/bin/llmkit run ") + _commands(".venv/bin/llmkit report"):
        if command in ELSEWHERE or "healthcare_diabetes" in command or "finance_credit_risk" in command:
            continue  # the "Use your own data" commands: their own tests below make the tables they read
        command = command.replace("/tmp/run", str(workdir / "run"))
        (workdir / "outputs").mkdir(exist_ok=True)
        out = _run(command, workdir)
        if " report " in command:
            reports.append(out.stdout)
    for command in _commands("papermill"):
        if "healthcare_diabetes" not in command:
            _run(command, workdir)
    return reports


def _patients_table(path: Path, rows: int = 48) -> None:
    """A table the way an analyst has one: other column names, string labels, two numeric columns."""
    from llmkit.data.synth.diabetes_notes import load_diabetes_notes

    notes = load_diabetes_notes().groupby("label").head(rows // 2)
    table = notes.rename(columns={"note": "clinical_text", "fasting_glucose": "glucose", "hba1c": "a1c"})
    table["outcome"] = table.pop("label").map({0: "negative", 1: "positive"})
    table[["clinical_text", "outcome", "glucose", "a1c"]].to_csv(path, index=False)


def _workdir(root: Path) -> Path:
    """A folder that looks like the repository root to the README's relative paths."""
    root.mkdir(parents=True)
    (root / "notebooks").symlink_to(ROOT / "notebooks")
    return root


@pytest.fixture(scope="module")
def command_runs(tmp_path_factory):
    """The README's long commands, each in its own folder, two at a time (each a single-threaded kernel most of
    its time on this 2-core machine; no timing is checked here): the 'Running notebooks' block, the healthcare
    line and the four analyst-engine lines. A failed command fails the test that reads its result."""
    import tables

    root = tmp_path_factory.mktemp("readme")
    jobs = {"running notebooks": (_workdir(root / "running"), _running_notebooks_block)}
    healthcare = _workdir(root / "healthcare")
    _patients_table(healthcare / "my_patients.csv")
    (command,) = [c for c in readme_commands() if "healthcare_diabetes" in c]
    jobs["healthcare"] = (healthcare, lambda d, c=command: _run(c, d, timeout=400).stdout)
    engine = [c for c in readme_commands() if "finance_credit_risk" in c]
    for i, command in enumerate(engine):
        folder = _workdir(root / f"engine{i}")
        tables.write_all(folder)
        jobs[command] = (folder, lambda d, c=command: _run(c, d, timeout=300).stdout)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: (folder, pool.submit(job, folder)) for name, (folder, job) in jobs.items()}
        return {
            name: (folder, future.exception() or future.result())
            for name, (folder, future) in futures.items()
        }


def _result(command_runs, name):
    folder, result = command_runs[name]
    if isinstance(result, BaseException):
        raise result
    return folder, result


def test_running_notebooks_commands(command_runs):
    """The 'Running notebooks' block runs in order, the report prints, and the run into a folder took its profile."""
    workdir, reports = _result(command_runs, "running notebooks")
    assert reports and all("report:" in out for out in reports)
    assert (workdir / "run" / "00_setup" / "metrics.json").exists()
    ledger = json.loads((workdir / "run" / "00_setup" / "metrics.json").read_text())
    assert ledger["profile"] == "smoke"
    assert (workdir / "out.ipynb").exists()


def test_use_your_own_data_healthcare_command(command_runs):
    """The healthcare line on an analyst's CSV: the run passes, the built-in sections are skipped, the list-valued
    feature_columns reach the fusion stage, and the bundle's card names the table and its labels."""
    workdir, stdout = _result(command_runs, "healthcare")
    assert "passed" in stdout
    (out,) = [p.parent for p in (workdir / "outputs").glob("*/healthcare_diabetes/metrics.json")
              if p.parts[-3] != "latest"]  # fmt: skip
    ledger = json.loads((out / "metrics.json").read_text())
    assert {"teacher_accuracy", "bundle_int8_accuracy", "fusion_accuracy"} <= set(ledger["metrics"])
    assert "pima_logistic_regression_accuracy" not in ledger["metrics"]  # built-in sections skipped
    card = json.loads((out / "bundle" / "model_card.json").read_text())
    assert card["labels"] == ["negative", "positive"] and card["training_data"]["source"].endswith(
        "my_patients.csv"
    )
    assert card["metrics"]["test_accuracy"] == ledger["metrics"]["bundle_int8_accuracy"]
    assert (out / "bundle" / "model.safetensors").exists() and (out / "bundle" / "model.int8.onnx").exists()


def test_use_your_own_data_engine_commands(command_runs):
    """One analyst-engine line per table shape (tests/tables.py makes the four files), each run at smoke."""
    commands = [c for c in readme_commands() if "finance_credit_risk" in c]
    assert len(commands) == 4
    stages = {}
    for command in commands:
        workdir, stdout = _result(command_runs, command)
        assert "passed" in stdout, command
        (path,) = [
            p
            for p in (workdir / "outputs").glob("*/finance_credit_risk/stages.csv")
            if p.parts[-3] != "latest"
        ]
        stages[command] = path.read_text()
    texts = "\n".join(stages.values())
    assert "last value (naive)" in texts and "MiniLM fine-tuned (text)" in texts  # the time and text tables


def test_serve_commands(tmp_path):
    """`llmkit serve` on a tiny bundle, both README lines, and the README's curl against the second."""
    from tiny import tiny_classifier

    from llmkit.assets import models
    from llmkit.deploy import export

    card = {"name": "tiny", "version": "0.0.1", "task": "diabetes or not", "labels": ["no diabetes", "diabetes"],
            "training_data": {"source": "a test"}, "metrics": {}, "intended_use": "tests only",
            "limitations": ["random weights"], "max_length": 16}  # fmt: skip
    texts = ["HbA1c 8.1%, on metformin.", "Knee surgery follow-up.", "Allergies only."]
    export.build_bundle(tiny_classifier(), models.load_tokenizer("minilm"), tmp_path / "bundle", card, texts)
    curl = _commands("curl")[0]
    for command in _commands(".venv/bin/llmkit serve"):
        port = _free_port()
        words = [w.replace(".venv/bin/", f"{BIN}/") for w in shlex.split(command.replace("8000", str(port)))]
        if "--port" not in words:
            words += ["--port", str(port)]
        proc = subprocess.Popen(
            words, cwd=tmp_path, env=env_vars(tmp_path), stdout=subprocess.PIPE, text=True
        )
        try:
            line = proc.stdout.readline()
            assert f":{port}" in line, line
            _wait_healthy(port)
            out = _run(curl.replace("8000", str(port)), tmp_path, timeout=30)
            answer = json.loads(out.stdout)
            assert answer["predictions"][0]["label"] in card["labels"]
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    assert (tmp_path / "requests.jsonl").exists()


def _wait_healthy(port: int, seconds: float = 60) -> None:
    import time

    import httpx

    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
