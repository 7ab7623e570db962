"""llmkit.fairness: audit helpers on hand-computed tiny examples (and against fairlearn), the planted-bias
generator (its size is the one asked for; off changes nothing), mitigation, and the attributions on a tiny BERT."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmkit.core.errors import LlmkitError
from llmkit.data.synth import clinical_notes as cn
from llmkit.data.synth.documentation import UnderDocumentation
from llmkit.fairness import attribution, audit, mitigate, planted

# groups a (4 rows) and b (4 rows); hand-computed rates below
Y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
PRED = np.array([1, 0, 1, 0, 1, 1, 1, 1])
G = np.array(["a"] * 4 + ["b"] * 4)


def test_group_table_by_hand():
    t = audit.group_table(Y, PRED, G)
    assert t.loc["a", "selection rate"] == 0.5 and t.loc["b", "selection rate"] == 1.0
    assert t.loc["a", "TPR"] == 0.5 and t.loc["b", "TPR"] == 1.0
    assert t.loc["a", "FPR"] == 0.5 and t.loc["b", "FPR"] == 1.0
    assert t.loc["a", "accuracy"] == 0.5 and t.loc["b", "accuracy"] == 0.5
    assert t["rows"].tolist() == [4, 4]


def test_disparities_by_hand_and_as_fairlearn():
    t = audit.disparity_table(Y, PRED, G, gap=("a", "b"), n_resamples=50)
    assert t.loc["demographic parity difference", "value"] == pytest.approx(0.5)
    assert t.loc["demographic parity ratio", "value"] == pytest.approx(0.5)
    assert t.loc["equalized odds difference", "value"] == pytest.approx(0.5)
    assert t.loc["TPR a - b", "value"] == pytest.approx(-0.5) == planted.tpr_gap(Y, PRED, G, "a", "b")
    rng = np.random.default_rng(1)
    y, p, g = rng.integers(0, 2, 400), rng.integers(0, 2, 400), rng.choice(["x", "y", "z"], 400)
    ours = audit.disparity_table(y, p, g, n_resamples=100)["value"]
    for name, value in audit.fairlearn_disparities(y, p, g).items():
        assert ours[name] == pytest.approx(value), name


def test_interval_contains_the_value_and_is_deterministic():
    rng = np.random.default_rng(2)
    y, p, g = rng.integers(0, 2, 300), rng.integers(0, 2, 300), rng.choice(["a", "b"], 300)
    t1 = audit.disparity_table(y, p, g, seed=3, n_resamples=200)
    t2 = audit.disparity_table(y, p, g, seed=3, n_resamples=200)
    pd.testing.assert_frame_equal(t1, t2)
    assert (t1["lo"] <= t1["value"] + 1e-12).all() and (t1["value"] <= t1["hi"] + 0.2).all()


def test_bad_input_names_the_field():
    with pytest.raises(LlmkitError, match="y_pred"):
        audit.group_table(Y, PRED * 2, G)
    with pytest.raises(LlmkitError, match="groups"):
        audit.disparity_table(Y, PRED, ["a"] * 8)
    with pytest.raises(LlmkitError, match="gap"):
        audit.disparity_table(Y, PRED, G, gap=("a", "c"))
    with pytest.raises(LlmkitError, match="constraint"):
        mitigate.threshold_optimizer(None, None, Y, G, "parity")
    with pytest.raises(LlmkitError, match="symptom_rate"):
        UnderDocumentation(symptom_rate=0)


def test_calibration_by_group():
    p = np.array([0.1, 0.1, 0.9, 0.9, 0.1, 0.1, 0.9, 0.9])
    y = np.array([0, 0, 1, 1, 1, 1, 0, 0])
    ece = audit.calibration_error_by_group(y, p, G, bins=5)
    assert ece["a"] == pytest.approx(0.1) and ece["b"] == pytest.approx(0.9)


# ------------------------------------------------------------------------------------------ planted bias


def test_planted_bias_off_changes_nothing():
    a = cn.generate_notes(300, seed=4)
    b = cn.generate_notes(300, seed=4, under_documented=None)
    pd.testing.assert_frame_equal(a, b)


def test_planted_bias_has_the_size_asked_for():
    clean = cn.generate_notes(3000, seed=1, label_noise=0.0)
    bias = UnderDocumentation(sex="F", symptom_rate=0.5, missed=0.5)
    biased = cn.generate_notes(3000, seed=1, label_noise=0.0, under_documented=bias)
    meds = clean["medications"].str.split(";").map(lambda m: bool(set(m) & set(cn.DIABETES_MEDICATIONS)))
    group = (clean["sex"] == "F") & clean["split"].isin(bias.splits)
    untreated_pos = group & (clean["label"] == 1) & ~meds
    missed = untreated_pos & (biased["label"] == 0)
    assert missed.sum() == round(0.5 * untreated_pos.sum())
    assert (clean.loc[~missed, "label"] == biased.loc[~missed, "label"]).all()  # nothing else relabeled
    untouched = ~group
    assert (clean.loc[untouched, "note"] == biased.loc[untouched, "note"]).all()  # test notes and men: clean
    # a present symptom is written 0.45 of the time instead of 0.9 (the touched, unmissed women)
    kept = group & ~missed
    ratio = _symptom_mention_rate(biased[kept]) / _symptom_mention_rate(clean[kept])
    assert 0.4 < ratio < 0.6, ratio


def _symptom_mention_rate(df: pd.DataFrame) -> float:
    """Of the present symptoms (the ``symptoms`` column), the share the note names."""
    from llmkit.data.synth.clinical_vocabulary import FAMILIES

    named = total = 0
    for note, symptoms in zip(df["note"].str.lower(), df["symptoms"], strict=True):
        for s in filter(None, symptoms.split(";")):
            words = [w.lower() for family in FAMILIES[s].values() for w in family]
            named += any(w in note for w in words)
            total += 1
    return named / total


# ------------------------------------------------------------------------------------------ attributions


@pytest.fixture(scope="module")
def tiny():
    from tiny import tiny_classifier

    from llmkit.assets.models import load_tokenizer

    return tiny_classifier(seed=0, dropout=0.0), load_tokenizer("minilm")


def test_integrated_gradients_completeness_and_deletion(tiny):
    model, tok = tiny
    text = "patient reports polyuria and fatigue with high glucose"
    a = attribution.integrated_gradients(model, tok, text, steps=64)
    assert a.scores.shape == (len(a.ids),)
    assert attribution.completeness_error(a) < 0.05
    top, rand = attribution.deletion_drops(model, tok, a, k=2, random_draws=4)
    assert np.isfinite(top) and np.isfinite(rand)
    occ = attribution.occlusion(model, tok, text)
    assert occ.scores[0] == 0 and occ.scores[-1] == 0
    html = attribution.highlight_html(a, "t")
    words = [t for t in a.tokens if t not in ("[CLS]", "[SEP]") and not t.startswith("##")]
    assert html.count("<span") == len(words)
    with pytest.raises(LlmkitError, match="k"):
        attribution.deletion_drops(model, tok, a, k=len(a.ids))


def test_deletion_test_prefers_the_words_a_model_uses(tiny):
    """A bag-of-embeddings model that reads one word: IG ranks that word first, and deleting it lowers the
    predicted probability far more than deleting one random token."""
    from types import SimpleNamespace

    import torch

    _, tok = tiny
    target = tok.convert_tokens_to_ids("fatigue")

    class OneWord(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(tok.vocab_size, 2)
            with torch.no_grad():
                self.embed.weight.zero_()
                self.embed.weight[target, 0] = 3.0

        def get_input_embeddings(self) -> torch.nn.Module:
            return self.embed

        def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None):
            e = self.embed(input_ids) if inputs_embeds is None else inputs_embeds
            s = (e[..., 0] * attention_mask).sum(1)
            return SimpleNamespace(logits=torch.stack([-s, s], dim=1))

    model = OneWord().eval()
    a = attribution.integrated_gradients(
        model, tok, "patient reports polyuria and fatigue with high glucose", steps=32
    )
    assert a.tokens[int(np.argmax(a.scores))] == "fatigue"
    assert attribution.completeness_error(a) < 0.05
    top, rand = attribution.deletion_drops(model, tok, a, k=1, random_draws=8)
    assert top > 0.4 and top > 3 * rand
