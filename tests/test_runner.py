"""The course runner on a tiny notebook made in the test (fast: one kernel start per test)."""

from __future__ import annotations

import json

import nbformat
import pytest

from llmkit.core.errors import LlmkitError
from llmkit.course import cli, runner


def _notebook(path, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("profile = None\nout_dir = None\ntarget = 1.0\ncolumns = None")
    params.metadata["tags"] = ["parameters"]
    setup = nbformat.v4.new_code_cell(
        "from llmkit.core import config\nfrom llmkit.course.claims import Ledger\n"
        "profile = config.resolve_profile(profile)\n"
        f"claims = Ledger({path.stem!r}, profile=profile, out_dir=out_dir)"
    )
    nb.cells = [nbformat.v4.new_markdown_cell("# demo"), params, setup, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def demo(tmp_path):
    path = tmp_path / "nb" / "07_demo.ipynb"
    path.parent.mkdir()
    _notebook(
        path,
        "claims.metric('answer', 42, headline=True)\n"
        "claims.check('two is big', 2.0, '>=', target, course='two is at least the target')\n"
        "claims.save()",
    )
    return path


def test_run_writes_notebook_html_ledger_and_index(demo, tmp_path, capsys):
    run_dir, (result,) = runner.run_course([str(demo)], profile="lesson", out=tmp_path / "run")
    assert result.status == "passed", result.error
    folder = run_dir / "07_demo"
    for name in ("07_demo.ipynb", "07_demo.html", "metrics.json", "status.json"):
        assert (folder / name).exists(), name
    ledger = json.loads((folder / "metrics.json").read_text())
    assert ledger["profile"] == "lesson" and ledger["claims"][0]["passed"]
    index = (run_dir / "index.html").read_text()
    assert (
        "07_demo.html" in index
        and "answer" in index
        and "1 met" in index
        and "course target: two is at least the target" in index
    )
    printed = capsys.readouterr().out
    assert "07_demo" in printed and "answer=42" in printed


def test_failed_claim_at_lesson_fails_the_notebook_and_shows_in_report(demo, tmp_path):
    run_dir, (result,) = runner.run_course(
        [str(demo)], "lesson", tmp_path / "run", {"target": 5.0}, echo=False
    )
    assert result.status == "failed" and "ClaimFailed" in result.error
    (row,) = runner.collect(run_dir)
    assert row["claims"][0]["passed"] is False
    assert "FAILED 07_demo: two is big = 2 >= 5" in runner.format_table([row])
    # at smoke the same failure is recorded, not raised
    _, (smoke,) = runner.run_course([str(demo)], "smoke", tmp_path / "run2", {"target": 5.0}, echo=False)
    assert smoke.status == "passed"


def test_bad_requests_refused_before_running(demo, tmp_path):
    with pytest.raises(
        LlmkitError, match="no parameter 'lr'; its parameters are: profile, out_dir, target, columns"
    ):
        runner.run_course([str(demo)], "smoke", tmp_path / "run", {"lr": 1}, echo=False)
    assert not (tmp_path / "run").exists()
    with pytest.raises(LlmkitError, match="notebook 'nine': not found"):
        runner.find_notebook("nine")
    runner.run_course([str(demo)], "smoke", tmp_path / "run", echo=False)
    with pytest.raises(LlmkitError, match="never overwritten"):
        runner.run_course([str(demo)], "smoke", tmp_path / "run", echo=False)


def test_timing_claims_recorded_unless_strict_and_no_transport_warning(tmp_path, capfd):
    path = tmp_path / "nb" / "07_speed.ipynb"
    path.parent.mkdir()
    _notebook(
        path, "claims.check('fast', 1.0, '>=', target, course='fast enough', timing=True)\nclaims.save()"
    )
    _, (lenient,) = runner.run_course([str(path)], "lesson", tmp_path / "a", {"target": 5.0}, echo=False)
    assert lenient.status == "passed", lenient.error
    (row,) = runner.collect(tmp_path / "a")
    assert row["claims"][0]["status"] == "not met" and "cores" in row["claims"][0]["reason"]
    assert "◐ not met" in (tmp_path / "a" / "index.html").read_text()
    _, (strict,) = runner.run_course(
        [str(path)], "lesson", tmp_path / "b", {"target": 5.0}, echo=False, strict_timing=True
    )
    assert strict.status == "failed" and "ClaimFailed" in strict.error
    assert "without encryption" not in capfd.readouterr().err


def test_list_valued_parameter_from_the_command_line(tmp_path):
    path = tmp_path / "nb" / "07_cols.ipynb"
    path.parent.mkdir()
    _notebook(
        path, "assert columns == ['glucose', 'a1c'], columns\nclaims.metric('n', len(columns))\nclaims.save()"
    )
    argv = ["run", str(path), "--profile", "smoke", "--out", str(tmp_path / "run"), "-p", "columns"]
    assert cli.main([*argv, '["glucose", "a1c"]']) == 0
    assert json.loads((tmp_path / "run" / "07_cols" / "metrics.json").read_text())["metrics"]["n"] == 2


def test_relative_paths_mean_the_callers_folder(tmp_path):
    resolved = runner.resolve_paths(
        {"data_path": "my.csv", "out_dir": "~/x", "text_column": "note", "n": 3}, tmp_path
    )
    assert resolved["data_path"] == str(tmp_path / "my.csv") and resolved["out_dir"].startswith("/")
    assert resolved["text_column"] == "note" and resolved["n"] == 3


def test_find_notebook_by_number_and_stem():
    first = runner.discover()[0]
    assert runner.find_notebook(first.stem.split("_")[0]) == first
    assert runner.find_notebook(first.stem) == first
    assert runner.find_notebook(str(int(first.stem[:2]))) == first


def test_parse_value():
    assert runner.parse_value("3") == 3 and runner.parse_value("0.5") == 0.5
    assert runner.parse_value("None") is None and runner.parse_value("true") is True
    assert runner.parse_value("note") == "note" and runner.parse_value("latin-1") == "latin-1"
    assert runner.parse_value("1e-3") == 0.001 and runner.parse_value("null") is None
    assert runner.parse_value('["glucose", "a1c"]') == ["glucose", "a1c"]
    assert runner.parse_value("{epochs: 2, lr: 0.1}") == {"epochs": 2, "lr": 0.1}
    with pytest.raises(LlmkitError, match="not valid YAML"):
        runner.parse_value('["unclosed"')


def test_cli_errors_are_one_line(capsys):
    assert cli.main(["run", "nine", "--profile", "smoke"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("llmkit: error: notebook 'nine'") and "\n" not in err


def test_report_rebuilds_index(demo, tmp_path):
    run_dir, _ = runner.run_course([str(demo)], "smoke", tmp_path / "run", echo=False)
    (run_dir / "index.html").unlink()
    assert cli.main(["report", str(run_dir)]) == 0
    assert (run_dir / "index.html").exists()


@pytest.mark.parametrize("path", runner.discover(), ids=lambda p: p.stem)
def test_every_parameter_line_of_every_notebook_parses(path):
    """papermill skips a parameter line it cannot parse (an '=' inside its comment does it), and then
    `llmkit run -p name value` refuses that name: every `name = value  # comment` line must come through."""
    import json
    import re

    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    (cell,) = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    lines = "".join(cell["source"]).splitlines()  # nbformat stores a source as one string or a list of lines
    names = [m.group(1) for line in lines if (m := re.match(r"^(\w+) = ", line))]
    assert names, f"{path.stem}: no parameter lines found"
    assert sorted(runner.notebook_parameters(path)) == sorted(names)
