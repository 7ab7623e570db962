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


# ------------------------------------------------------------------------------ the model card's section

# sex F: y 1 1 0 0, pred 1 0 1 0 -> selection 2/4, TPR 1/2, FPR 1/2, accuracy 2/4
# sex M: y 1 0 0 0, pred 1 1 0 0 -> selection 2/4, TPR 1/1, FPR 1/3, accuracy 3/4
# age band: "old" rows 0-5, "young" rows 6-7 (no positives: TPR undefined -> None, not NaN)
CARD_Y = np.array([1, 1, 0, 0, 1, 0, 0, 0])
CARD_PRED = np.array([1, 0, 1, 0, 1, 1, 0, 0])
CARD_GROUPS = {"sex": ["F"] * 4 + ["M"] * 4, "age band": ["old"] * 6 + ["young"] * 2}


def test_card_section_by_hand():
    import json

    from llmkit.fairness import card

    s = card.card_section(CARD_Y, CARD_PRED, CARD_GROUPS, seed=0, n_resamples=100, min_group_rows=3)
    json.dumps(s, allow_nan=False)  # strict JSON: what /metadata can answer
    assert s["test_rows"] == 8 and s["mitigation"] is None and s["n_resamples"] == 100
    sex = {g["group"]: g for g in s["columns"]["sex"]["groups"]}
    assert (sex["F"]["rows"], sex["F"]["positives"], sex["F"]["negatives"]) == (4, 2, 2)
    assert sex["F"]["selection rate"]["value"] == 0.5 and sex["M"]["selection rate"]["value"] == 0.5
    assert sex["F"]["TPR"]["value"] == 0.5 and sex["M"]["TPR"]["value"] == 1.0
    assert sex["F"]["FPR"]["value"] == 0.5 and sex["M"]["FPR"]["value"] == pytest.approx(1 / 3, abs=1e-4)
    assert sex["F"]["accuracy"]["value"] == 0.5 and sex["M"]["accuracy"]["value"] == 0.75
    d = s["columns"]["sex"]["disparities"]
    assert (
        d["demographic parity difference"]["value"] == 0.0 and d["demographic parity ratio"]["value"] == 1.0
    )
    assert d["equalized odds difference"]["value"] == 0.5  # max(|1/2 - 1|, |1/2 - 1/3|)
    assert d["equalized odds ratio"]["value"] == 0.5  # min(1/2 / 1, 1/3 / 1/2)
    for rates in [*sex.values(), *d.values()]:
        for x in rates.values() if isinstance(rates, dict) else ():
            if isinstance(x, dict) and x.get("value") is not None:
                assert x["lo"] - 1e-9 <= x["value"] <= x["hi"] + 1e-9
    age = {g["group"]: g for g in s["columns"]["age band"]["groups"]}
    assert age["young"]["TPR"] == {"value": None, "lo": None, "hi": None}  # no positives among the young
    assert age["young"]["small"] and not age["old"]["small"]  # flagged, not hidden
    assert s["columns"]["age band"]["small_groups"] == ["young"] and s["columns"]["sex"]["small_groups"] == []
    # fairlearn's own numbers for the same rows
    for name, value in audit.fairlearn_disparities(CARD_Y, CARD_PRED, CARD_GROUPS["sex"]).items():
        assert d[name]["value"] == pytest.approx(value, abs=1e-4)
    table = card.section_table(s)
    assert (
        table.loc[("sex", "M"), "TPR"].startswith("1.00")
        and "small" in table.loc[("age band", "young"), "note"]
    )
    words = card.summary(s)
    assert "demographic parity difference by sex 0.00" in words and "age band young (2 rows)" in words
    again = card.card_section(CARD_Y, CARD_PRED, CARD_GROUPS, seed=0, n_resamples=100, min_group_rows=3)
    assert again == s  # seeded


def test_card_section_refuses_what_it_cannot_audit():
    from llmkit.fairness import card

    with pytest.raises(LlmkitError, match=r"target 'status' is multi-class \(3 classes"):
        card.card_section(
            [0, 1, 2, 1], [0, 1, 1, 1], {"sex": list("FMFM")}, seed=0, n_resamples=5, target="status"
        )
    with pytest.raises(LlmkitError, match="target 'price' is a number"):
        card.card_section(
            [0.5, 1.5, 2.0, 1.0], [0, 1, 1, 1], {"s": list("FMFM")}, seed=0, n_resamples=5, target="price"
        )
    with pytest.raises(LlmkitError, match="sensitive column 'sex': expected one group per test row"):
        card.card_section(CARD_Y, CARD_PRED, {"sex": ["F"] * 3}, seed=0, n_resamples=5)
    with pytest.raises(LlmkitError, match="mitigation"):
        card.card_section(CARD_Y, CARD_PRED, CARD_GROUPS, seed=0, n_resamples=5, mitigation=" ")
    one = card.card_section(
        CARD_Y, CARD_PRED, {"site": ["A"] * 8}, seed=0, n_resamples=5, mitigation="none tried"
    )
    assert "one group only" in one["columns"]["site"]["skipped"] and one["mitigation"] == "none tried"


def test_groups_of_keeps_categories_and_bands_many_numbers():
    from llmkit.fairness import card

    assert card.groups_of(["F", None, "M"]).tolist() == ["F", "missing", "M"]
    assert card.groups_of([1, 0, 1.0]).tolist() == ["1", "0", "1"]
    ages = card.groups_of([18, 20, 25, 33, 40, 47, 52, 60, 71, 90, np.nan])
    assert len(set(ages) - {"missing"}) == 3 and ages[0] == "18-33" and ages[-1] == "missing"
