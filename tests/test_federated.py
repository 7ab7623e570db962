"""Federated learning (notebook 07): partitions, house styles, Flower apps, the message audit, DP accounting
and `flwr run` against a local SuperLink that the test starts and stops."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from llmkit.core.errors import LlmkitError
from llmkit.data.synth import clinical_notes, diabetes_notes
from llmkit.federated import hospitals, privacy, runtime, simulation

CFG = simulation.HeadConfig(hidden=0, learning_rate=0.1, batch_size=16)


@pytest.fixture(autouse=True)
def _flower_home(tmp_path, monkeypatch):
    """Flower's state (FLWR_HOME) goes into the test's folder, never the home folder."""
    monkeypatch.setenv("FLWR_HOME", str(tmp_path / "flwr-home"))


def _toy(seed: int = 0, n_hospitals: int = 5) -> hospitals.Federation:
    """A small learnable task: 8 Gaussian features, a linear rule, label-skewed hospitals, a note per row."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=8)
    x = rng.normal(size=(500, 8)).astype(np.float32)
    y = (x @ w + 0.3 * rng.normal(size=500) > 0).astype(np.int64)
    texts = [f"Patient {i}: HbA1c {5 + i % 40 / 10:.1f}%, denies polyuria." for i in range(300)]
    parts = hospitals.dirichlet_partition(y[:300], n_hospitals, 0.5, seed)
    return hospitals._split("toy", "dirichlet", x[:300], y[:300], parts, (x[300:], y[300:]), [""] * 5, texts)


# ------------------------------------------------------------------------------------------ partitions


def test_dirichlet_partition_covers_every_row_once_and_skews_labels():
    y = np.array([0] * 600 + [1] * 400)
    parts = hospitals.dirichlet_partition(y, 5, 0.3, seed=1)
    assert sorted(np.concatenate(parts).tolist()) == list(range(1000))
    assert min(len(p) for p in parts) >= 10
    rates = hospitals.partition_counts(y, parts)[:, 1] / [len(p) for p in parts]
    iid_rates = [y[p].mean() for p in hospitals.iid_partition(1000, 5, seed=1)]
    assert np.ptp(rates) > 0.3 > np.ptp(iid_rates)  # alpha = 0.3: very different class mixes
    again = hospitals.dirichlet_partition(y, 5, 0.3, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))


def test_partition_rejects_bad_input_naming_the_field():
    with pytest.raises(LlmkitError, match="alpha"):
        hospitals.dirichlet_partition([0, 1] * 50, 5, 0.0)
    with pytest.raises(LlmkitError, match="n_clients"):
        hospitals.dirichlet_partition([0, 1] * 10, 5, 0.3)
    with pytest.raises(LlmkitError, match="n_clients"):
        hospitals.iid_partition(3, 5)


def test_restyle_keeps_patients_and_labels_and_uses_the_house_words():
    df = diabetes_notes.load_diabetes_notes("train").head(60)
    styled = clinical_notes.restyle_notes(df, "abbreviations")
    assert (clinical_notes.diabetes_rule(styled) == clinical_notes.diabetes_rule(df)).all()
    assert (styled["label"] == df["label"]).all() and (styled["note"] != df["note"]).any()
    used = ";".join(styled["families"])
    assert "hba1c:abbrev" in used and "hba1c:full" not in used
    lay = ";".join(clinical_notes.restyle_notes(df, "spelled_out")["families"])
    assert "hba1c:full" in lay and "hba1c:abbrev" not in lay
    assert clinical_notes.restyle_notes(df, "abbreviations")["note"].equals(styled["note"])  # deterministic
    with pytest.raises(LlmkitError, match="style"):
        clinical_notes.restyle_notes(df, "gothic")


# ------------------------------------------------------------------------------------------ privacy


def test_gdp_epsilon_is_exact_and_below_the_rdp_bound():
    from scipy.stats import norm

    assert privacy.gdp_delta(0.0, 1.0) == pytest.approx(norm.cdf(0.5) - norm.cdf(-0.5))
    for z, rounds in ((0.5, 20), (1.0, 20), (4.0, 20), (2.0, 1)):
        mu = privacy.gdp_mu([z] * rounds)
        assert mu == pytest.approx(math.sqrt(rounds) / z)
        eps = privacy.gdp_epsilon(1e-3, mu)
        assert privacy.gdp_delta(eps, mu) == pytest.approx(1e-3, rel=1e-6)
        assert eps < privacy.rdp_epsilon(z, rounds, 1e-3)
    assert privacy.gdp_epsilon(1e-3, privacy.gdp_mu([1.0] * 20)) > privacy.gdp_epsilon(
        1e-3, privacy.gdp_mu([2.0] * 20)
    )
    assert privacy.gdp_mu([0.0]) == math.inf and privacy.gdp_epsilon(1e-3, math.inf) == math.inf
    with pytest.raises(LlmkitError, match="delta"):
        privacy.gdp_epsilon(0.0, 1.0)


# ------------------------------------------------------------------------------------------ Flower


def test_flower_fedavg_matches_fedavg_by_hand_and_repeats_exactly():
    fed = _toy()
    run = simulation.simulate(fed, "fedavg", rounds=4, cfg=CFG, seed=0, workers=2)
    again = simulation.simulate(fed, "fedavg", rounds=4, cfg=CFG, seed=0, workers=2)
    by_hand = simulation.fedavg_by_hand(fed, CFG, rounds=4, seed=0)
    assert run.accuracy == again.accuracy and len(run.accuracy) == 5
    assert np.allclose(run.accuracy[1:], by_hand, atol=1 / len(fed.y_test) + 1e-9)
    assert run.accuracy[-1] > 0.8 > run.accuracy[0]
    weights = fed.dim * 2 + 2  # logistic head: [2, dim] and [2]
    assert run.bytes_down[0] >= 5 * 4 * weights and run.bytes_up[0] >= 5 * 4 * weights
    assert run.bytes_up[0] < 5 * (4 * weights + 400)  # weights plus a few metrics, nothing else


def test_every_message_a_client_sends_holds_only_weights_and_metrics():
    fed = _toy()
    run = simulation.simulate(fed, "fedprox", rounds=2, cfg=CFG, dp=None)
    assert run.log.audit(fed.private_bytes()) == 2 * fed.n_hospitals
    for sent in run.log.sent:
        assert set(sent.records.values()) == {"ArrayRecord", "MetricRecord"}
    # the audit catches a client that leaks: one note's text in a reply
    leak = runtime.Sent(0, 1, "train", {"metrics": "MetricRecord"}, 0, 0, fed.texts[0][0].encode())
    run.log.sent.append(leak)
    with pytest.raises(LlmkitError, match="private record left"):
        run.log.audit(fed.private_bytes())
    row = fed.x[2][3].tobytes()  # a stored feature row hidden at an odd offset inside the weights' bytes
    run.log.sent[-1] = runtime.Sent(2, 1, "train", {"arrays": "ArrayRecord"}, 0, 0, b"abc" + row + b"z")
    with pytest.raises(LlmkitError, match="hospital 2, round 1: a private record left"):
        run.log.audit(fed.private_bytes())
    run.log.sent[-1] = runtime.Sent(0, 1, "train", {"notes": "ConfigRecord"}, 0, 0, b"")
    with pytest.raises(LlmkitError, match="ConfigRecord"):
        run.log.audit(fed.private_bytes())


def test_client_side_dp_clips_adds_noise_and_accounts_epsilon():
    fed = _toy()
    dp = simulation.DPSettings(noise_multiplier=2.0, clipping_norm=0.2)
    run = simulation.simulate(fed, "fedavg", rounds=3, cfg=CFG, dp=dp)
    assert run.epsilon == pytest.approx(privacy.gdp_epsilon(dp.delta, math.sqrt(3) / 2.0))
    free = simulation.simulate(fed, "fedavg", rounds=3, cfg=CFG, dp=simulation.DPSettings(0.0, 0.2))
    assert free.epsilon == math.inf and math.isnan(simulation.simulate(fed, "fedavg", 1, CFG).epsilon)
    assert run.accuracy != free.accuracy  # the noise changed the model
    with pytest.raises(LlmkitError, match="strategy"):
        simulation.make_strategy("fedprox", 5, dp=dp)
    with pytest.raises(LlmkitError, match="strategy"):
        simulation.make_strategy("scaffold", 5)


def test_thread_backend_is_installed_only_inside_the_block():
    name = runtime._RAY_MODULE
    before = sys.modules.get(name)
    with runtime.use_thread_backend():
        assert sys.modules[name].RayBackend is runtime.ThreadBackend
    assert sys.modules.get(name) is before


def test_baselines_train_and_stay_deterministic():
    fed = _toy()
    central = simulation.train_central(fed, CFG, epochs=3)
    alone = simulation.train_alone(fed, CFG, epochs=3)
    assert len(central) == 3 and len(alone) == fed.n_hospitals
    assert central == simulation.train_central(fed, CFG, epochs=3)
    assert central[-1] >= np.mean(alone)


def test_flwr_run_runs_the_same_apps_against_a_local_superlink(tmp_path):
    """`flwr run` on llmkit/federated/flower_app: Pima, 5 hospitals, 2 rounds; same accuracy as the in-process run."""
    home = tmp_path / "flwr-home"
    home.mkdir(exist_ok=True)
    env = runtime.flower_env(home)
    assert (
        env["FLWR_HOME"] == str(home.resolve()) and env["FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION"] == "1"
    )
    app = Path(simulation.__file__).parent / "flower_app"
    out = tmp_path / "result.json"
    superlink = runtime.start_superlink(home)
    try:
        done = runtime.flwr_run(
            app,
            home,
            superlink.port,
            {"num-server-rounds": 2, "out-file": str(out)},
            num_supernodes=5,
            timeout_s=120,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    finally:
        runtime.stop_process(superlink)
    assert superlink.poll() is not None
    summary = json.loads(out.read_text())
    assert summary["task"] == "pima" and summary["hospitals"] == 5 and len(summary["accuracy"]) == 3
    fed = hospitals.load_pima_federations(5, 0.3, 0)["non_iid"]
    cfg = simulation.HeadConfig(hidden=0, learning_rate=0.05, batch_size=16)
    assert np.allclose(summary["accuracy"], simulation.simulate(fed, "fedavg", 2, cfg).accuracy, atol=1e-6)


def test_note_federations_share_one_pool_in_two_partitions():
    feds = hospitals.load_note_federations(5, 0.3, seed=0, n_train=80, n_test=20)
    non_iid, iid = feds["non_iid"], feds["iid"]
    assert non_iid.dim == 384 and len(non_iid.y_test) == 20 and sum(non_iid.sizes) == sum(iid.sizes) == 80
    assert non_iid.styles == tuple(clinical_notes.HOSPITAL_STYLES)[:5]
    pooled = sorted(t for texts in non_iid.texts for t in texts)
    assert pooled == sorted(
        t for texts in iid.texts for t in texts
    )  # the same (restyled) notes, dealt differently
    norms = np.linalg.norm(non_iid.x_test, axis=1)
    assert np.allclose(norms, math.sqrt(384), rtol=1e-4)  # unit embeddings times sqrt(dim)
