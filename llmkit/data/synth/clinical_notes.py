"""Synthetic clinical notes for diabetes detection: the healthcare case study's data (notebooks 03, 04, cs).

Each patient is drawn first -- a latent diabetes status, then age, BMI, labs, blood pressure, symptoms,
conditions and medications conditioned on it, with overlap -- and then described in one free-text note
with paraphrase, abbreviations (T2DM, HTN, HbA1c, FBG, BMI), negation ("denies polyuria", "no history of
T2DM"), distractor conditions (asthma, GERD, ...), vitals that are sometimes left out, and shuffled
sentence order.

**Label rule** (ADA-like, applied to the structured values the note is written from)::

    rule  = hba1c >= 6.5  or  fasting_glucose >= 126  or  on a diabetes medication (DIABETES_MEDICATIONS)
    label = rule, flipped in exactly round(label_noise * rows) rows of each split (and test half)

The flips are independent of everything else, so the rule is the Bayes-optimal classifier and the best
achievable accuracy is 1 - label_noise (0.95), measured exactly by :func:`best_achievable_accuracy`.
**The text reaches the same bound**: every note lists the complete medications, and whenever they do not
settle the rule it states every lab value the rule needs, as a number or as its ADA category ("A1c in the
prediabetes range"). A lab is left out only where the note already settles the rule as positive, so a
missing lab is weak evidence of a positive label -- a shortcut a model may learn; it is documented here.

**Paraphrase families**: a concept is named in several families (``polyuria:clinical`` "polyuria",
``polyuria:lay`` "frequent urination"; ``negation:denies`` / ``negation:no_history`` /
``negation:negative_for``). Families in ``held_out_families`` never appear in the train and validation
notes. Half of the test notes (``shifted == 1``) say every concept that has a held-out family in held-out
words; the other half use training words only. Both halves are the same kind of patient, so the gap
between them is what unseen paraphrase costs a model -- notebook 04 measures what pretrained meaning buys
back. Each row's ``families`` column lists the families its note used. The unlabeled corpus for
pretraining uses every family unless told otherwise.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llmkit.core.errors import LlmkitError
from llmkit.data.synth.clinical_vocabulary import (
    DISTRACTORS,
    FAMILIES,
    LAB_MODES,
    MED_DOSES,
    MED_FORMS,
    SYMPTOM_RATES,
    TEMPLATES,
)
from llmkit.data.synth.documentation import UnderDocumentation, under_document

if TYPE_CHECKING:
    import pandas as pd

SPLITS: tuple[str, ...] = ("train", "validation", "test")
DIABETES_MEDICATIONS: tuple[str, ...] = ("metformin", "insulin", "glipizide", "sitagliptin", "empagliflozin")
HBA1C_CUTOFF, GLUCOSE_CUTOFF = 6.5, 126  # % and mg/dL, ADA diagnostic thresholds
HELD_OUT_FAMILIES: tuple[str, ...] = (  # words that decide the label (lab names, a brand) and words that do not
    "diabetes:abbrev", "glucose:full", "hba1c:full", "hyperglycemia:lay", "metformin:brand",
    "negation:negative_for", "polydipsia:lay", "polyuria:lay",
)  # fmt: skip

# fmt: off
STRUCTURED_COLUMNS: tuple[str, ...] = (
    "age", "sex", "bmi", "fasting_glucose", "hba1c", "systolic_bp", "diastolic_bp", "family_history",
)
LIST_COLUMNS: tuple[str, ...] = ("conditions", "symptoms", "medications")  # ";"-joined names, "" = none
VITAL_COLUMNS: tuple[str, ...] = tuple(c for c in STRUCTURED_COLUMNS if c != "sex")  # numeric: for fusion
# fmt: on


# ------------------------------------------------------------------------------------------ patients


def _clip(x: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, x))


def _draw_patient(rng: random.Random) -> dict[str, Any]:
    """One patient's structured record: latent status first, then everything conditioned on it."""
    age = int(_clip(round(rng.gauss(54, 15)), 18, 90))
    sex = rng.choice("FM")
    family_history = int(rng.random() < 0.3)
    logit = -1.3 + 0.04 * (age - 54) + 0.9 * family_history
    diabetic = rng.random() < 1 / (1 + math.exp(-logit))  # latent; never stored
    treated = diabetic and rng.random() < 0.6  # diagnosed and on a diabetes medication
    bmi = round(_clip(rng.gauss(32.5 if diabetic else 27.0, 5.0), 16, 60), 1)
    hba1c = (rng.gauss(7.5, 1.2) if diabetic else rng.gauss(5.45, 0.38)) - 0.5 * treated
    hba1c = round(_clip(hba1c, 4.3, 14.0), 1)
    glucose = int(_clip(round(95 + 30 * (hba1c - 5.4) + rng.gauss(0, 11)), 65, 400))
    sbp = int(_clip(round(rng.gauss(121, 13) + 0.3 * (age - 54) + 0.6 * (bmi - 27) + 5 * diabetic), 90, 210))
    dbp = int(_clip(round(0.45 * sbp + rng.gauss(22, 7)), 50, 130))
    conditions: list[str] = []
    medications: list[str] = []
    if treated:
        conditions.append("diabetes")
        rates = {"metformin": 0.8, "insulin": 0.15 + 0.2 * (hba1c > 8), "glipizide": 0.1, "sitagliptin": 0.1,
                 "empagliflozin": 0.1}  # fmt: skip
        chosen = [m for m, p in rates.items() if rng.random() < p]
        medications += chosen or ["metformin"]
    if (sbp >= 140 or dbp >= 90 or rng.random() < 0.05) and rng.random() < 0.75:
        conditions.append("hypertension")
        medications.append(rng.choice(("lisinopril", "amlodipine")))
    for condition, (_, prevalence, medication) in DISTRACTORS.items():
        extra = 0.2 * diabetic if condition == "hyperlipidemia" else 0.0
        if rng.random() < prevalence + extra:
            conditions.append(condition)
            if rng.random() < 0.8:
                medications.append(medication)
    column = 0 if diabetic and glucose >= 140 else 1 if diabetic else 2
    symptoms = [s for s, rates3 in SYMPTOM_RATES.items() if rng.random() < rates3[column]]
    return {
        "age": age, "sex": sex, "bmi": bmi, "fasting_glucose": glucose, "hba1c": hba1c,
        "systolic_bp": sbp, "diastolic_bp": dbp, "family_history": family_history,
        "conditions": conditions, "symptoms": symptoms, "medications": medications,
    }  # fmt: skip


def _rule(p: dict[str, Any]) -> int:
    on_medication = any(m in DIABETES_MEDICATIONS for m in p["medications"])
    return int(p["hba1c"] >= HBA1C_CUTOFF or p["fasting_glucose"] >= GLUCOSE_CUTOFF or on_medication)


# -------------------------------------------------------------------------------------------- notes


class _Writer:
    """Chooses the words of one note and records the families it used.

    ``allowed`` holds the families each concept may use; ``prefer`` (family ids) narrows a choice to
    those families whenever the concept has one, which is how a shifted test note says every concept it
    can in held-out words.
    """

    def __init__(
        self, rng: random.Random, allowed: dict[str, tuple[str, ...]], prefer: frozenset[str] = frozenset(),
        symptom_rate: float = 1.0,  # times as often as usual a present symptom is written (UnderDocumentation)
    ) -> None:  # fmt: skip
        self.rng, self.allowed, self.prefer, self.used = rng, allowed, prefer, set[str]()
        self.symptom_rate = symptom_rate

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def choice(self, options: Sequence[str]) -> str:
        return options[int(self.rng.random() * len(options))]  # ~2x faster than rng.choice

    def pick(self, template: str) -> str:
        return self.choice(TEMPLATES[template])

    def _family(self, concept: str, options: tuple[str, ...] | list[str]) -> str:
        preferred = [f for f in options if f"{concept}:{f}" in self.prefer]
        family = self.choice(preferred or options)
        self.used.add(f"{concept}:{family}")
        return family

    def say(self, concept: str) -> str:
        return self.choice(FAMILIES[concept][self._family(concept, self.allowed[concept])])

    def negation(self, kinds: tuple[str, ...]) -> str | None:
        """A negation template ("denies {}") of one of ``kinds``; None if all of them are held out."""
        options = [k for k in kinds if k in self.allowed["negation"]]
        return self.choice(FAMILIES["negation"][self._family("negation", options)]) if options else None


def _join(items: list[str], conjunction: str) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def _category(lab: str, value: float) -> str:
    """The ADA category of a lab value, as a note may state it instead of the number."""
    low, high = (5.7, HBA1C_CUTOFF) if lab == "hba1c" else (100, GLUCOSE_CUTOFF)
    if value < low:
        return "within normal limits"
    if value < high:
        return "in the prediabetes range" if lab == "hba1c" else "in the impaired fasting range"
    return "in the diabetic range"


def _labs(p: dict[str, Any], w: _Writer) -> list[str]:
    """Lab phrases; a lab is left out only when the note still settles the label rule."""
    labs = {"hba1c": p["hba1c"], "glucose": p["fasting_glucose"]}
    modes = {lab: w.choice(LAB_MODES) for lab in labs}
    high = {"hba1c": labs["hba1c"] >= HBA1C_CUTOFF, "glucose": labs["glucose"] >= GLUCOSE_CUTOFF}
    on_medication = any(m in DIABETES_MEDICATIONS for m in p["medications"])
    if not (on_medication or any(high[lab] and modes[lab] != "omit" for lab in labs)):
        if any(high.values()):  # positive: state one lab that decides it
            modes["hba1c" if high["hba1c"] else "glucose"] = "number"
        else:  # negative: state both labs, each below its cut-off
            modes = {lab: "number" if mode == "omit" else mode for lab, mode in modes.items()}
    phrases = []
    for lab, value in labs.items():
        if modes[lab] == "number":
            phrases.append(w.pick(lab).format(w.say(lab), value))
        elif modes[lab] == "category":
            phrases.append(f"{w.say(lab)} {_category(lab, value)}")
    return phrases


def _write_note(p: dict[str, Any], w: _Writer) -> str:
    r, female = w.rng, p["sex"] == "F"
    gender = w.choice(("woman", "female") if female else ("man", "male"))
    intro = w.pick("intro").format(a=p["age"], s=gender, x="F" if female else "M", why=w.pick("reason"))
    body: list[str] = []
    named = [
        w.say(c) if c in FAMILIES else w.choice(DISTRACTORS[c][0]) for c in p["conditions"] if w.chance(0.85)
    ]
    if named:
        body.append(w.pick("history").format(_join(named, "and")))
    if "diabetes" not in p["conditions"] and w.chance(0.3) and (neg := w.negation(("no_history", "denies"))):
        body.append(neg.format(w.say("diabetes")) + ".")
    if present := [w.say(s) for s in p["symptoms"] if w.chance(0.9 * w.symptom_rate)]:
        body.append(w.pick("reports").format(_join(present, "and")))
    absent = [s for s in SYMPTOM_RATES if s not in p["symptoms"] and w.chance(0.2)]
    if absent and (neg := w.negation(("denies", "negative_for", "no"))):
        body.append(neg.format(_join([w.say(s) for s in absent], "or")) + ".")
    vitals = [w.pick("bp").format(p["systolic_bp"], p["diastolic_bp"])] if w.chance(0.75) else []
    if w.chance(0.7):
        vitals.append(w.pick("bmi").format(w.say("bmi"), p["bmi"]))
    if vitals:
        body.append(w.pick("vitals").format(", ".join(vitals)))
    if labs := _labs(p, w):
        body.append(w.pick("labs").format(", ".join(labs)))
    glucose = p["fasting_glucose"]
    if w.chance(0.45 if glucose >= GLUCOSE_CUTOFF else 0.15 if glucose >= 110 else 0.0):
        body.append(w.pick("hyperglycemia").format(w.say("hyperglycemia")))
    if p["family_history"] and w.chance(0.7):
        body.append(w.pick("family").format(r=w.pick("relative"), d=w.say("diabetes")))
    elif not p["family_history"] and w.chance(0.35) and (neg := w.negation(("denies", "no"))):
        body.append(neg.format(f"family history of {w.say('diabetes')}") + ".")
    meds = []  # always the complete list: the label rule needs it
    for m in p["medications"]:
        name = w.say("metformin") if m == "metformin" else w.choice(MED_FORMS.get(m, (m,)))
        meds.append(f"{name} {w.choice(MED_DOSES[m])}" if m in MED_DOSES and w.chance(0.5) else name)
    body.append(w.pick("meds").format(", ".join(meds)) if meds else w.pick("no_meds"))
    if w.chance(0.4):
        body.append(w.pick("allergies"))
    r.shuffle(body)
    body.insert(0 if w.chance(0.9) else r.randrange(len(body) + 1), intro)
    if w.chance(0.5):
        body.append("Plan: " + "; ".join(r.sample(TEMPLATES["plan"], r.randint(1, 2))) + ".")
    return " ".join(s[0].upper() + s[1:] for s in body)


# ------------------------------------------------------------------------------------ data sets


def _allowed(held_out: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {c: tuple(f for f in fams if f"{c}:{f}" not in held_out) for c, fams in FAMILIES.items()}


def _check_held_out(held_out_families: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    known = [f"{c}:{f}" for c, fams in FAMILIES.items() for f in fams]
    held_out = tuple(sorted(set(held_out_families)))
    for family in held_out:
        if family not in known:
            raise LlmkitError(f"held_out_families: unknown family {family!r}; expected some of {known}")
    for concept, families in _allowed(held_out).items():
        if not families:
            raise LlmkitError(f"held_out_families: all families of {concept!r} held out; keep one")
    return held_out


Style = tuple[dict[str, tuple[str, ...]], frozenset[str]]  # (allowed families, preferred families)


def _frame(
    patients: list[dict[str, Any]], styles: list[Style], stream: str, prefix: str,
    symptom_rates: list[float] | None = None,  # per note (UnderDocumentation); None: 1.0 for every note
) -> dict[str, list]:  # fmt: skip
    """Write every patient's note in its style and lay the rows out as columns.

    Each note has its own random stream, so a note depends only on the seed, its row and its style (and a
    symptom rate below 1 changes only which symptoms it mentions: it draws the same random numbers).
    """
    notes, families = [], []
    rates = symptom_rates or [1.0] * len(patients)
    for i, (p, (allowed, prefer)) in enumerate(zip(patients, styles, strict=True)):
        writer = _Writer(random.Random(f"{stream}/text/{i}"), allowed, prefer, rates[i])
        notes.append(_write_note(p, writer))
        families.append(";".join(sorted(writer.used)))
    columns: dict[str, list] = {
        "patient_id": [f"{prefix}{i + 1:05d}" for i in range(len(patients))],
        "note": notes,
    }
    columns |= {key: [p[key] for p in patients] for key in STRUCTURED_COLUMNS}
    columns |= {key: [";".join(p[key]) for p in patients] for key in LIST_COLUMNS}
    return columns | {"families": families}


def generate_notes(
    n_notes: int = 5000,
    *,
    seed: int = 0,
    label_noise: float = 0.05,  # fraction of labels flipped in each split, exactly
    split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),  # train, validation, test
    held_out_families: tuple[str, ...] | list[str] = HELD_OUT_FAMILIES,  # never in train or validation
    shifted_fraction: float = 0.5,  # of the test notes, written in the held-out families
    under_documented: UnderDocumentation | None = None,  # a planted bias (notebook 10); None: none
) -> pd.DataFrame:
    """The labeled task: one note per patient, its noisy label, its split and its structured values.

    Train, validation and the unshifted test notes use only the families that are not held out; the
    shifted test notes (``shifted == 1``) name every concept that has a held-out family in a held-out
    family. The two halves of the test split differ only in those words, so their accuracy gap is what
    unseen paraphrase costs a model.
    """
    import pandas as pd

    held_out = _check_held_out(held_out_families)
    if not 0 <= label_noise < 0.5:
        raise LlmkitError(f"label_noise: expected a fraction in [0, 0.5), got {label_noise}")
    if len(split_fractions) != 3 or abs(sum(split_fractions) - 1) > 1e-9 or min(split_fractions) <= 0:
        raise LlmkitError(
            f"split_fractions: expected 3 positive fractions summing to 1, got {split_fractions}"
        )
    if n_notes < 20 or not 0 <= shifted_fraction <= 1:
        raise LlmkitError(
            f"n_notes, shifted_fraction: expected >= 20 and in [0, 1], got {n_notes}, {shifted_fraction}"
        )
    # named streams (seeded by a string, hashed with SHA-512 by `random`): independent of PYTHONHASHSEED,
    # and the patients, splits and labels do not change when the held-out families do
    stream = f"diabetes-notes/labeled/{seed}"
    rng = random.Random(f"{stream}/patients")
    patients = [_draw_patient(rng) for _ in range(n_notes)]
    order = list(range(n_notes))
    random.Random(f"{stream}/splits").shuffle(order)
    n_train, n_validation = round(split_fractions[0] * n_notes), round(split_fractions[1] * n_notes)
    split = [""] * n_notes
    for rank, i in enumerate(order):
        split[i] = SPLITS[0] if rank < n_train else SPLITS[1] if rank < n_train + n_validation else SPLITS[2]
    test_rows = [i for i in range(n_notes) if split[i] == "test"]
    shifted = [0] * n_notes
    for i in random.Random(f"{stream}/shift").sample(test_rows, round(shifted_fraction * len(test_rows))):
        shifted[i] = 1
    labels = [_rule(p) for p in patients]
    rates = (
        under_document(under_documented, patients, split, labels, stream, DIABETES_MEDICATIONS)
        if under_documented
        else None
    )
    noise_rng = random.Random(f"{stream}/noise")
    for group in [(s, 0) for s in SPLITS] + [("test", 1)]:  # exact noise in each split and test half
        members = [i for i in range(n_notes) if (split[i], shifted[i]) == group]
        for i in noise_rng.sample(members, round(label_noise * len(members))):
            labels[i] = 1 - labels[i]
    plain: Style = (_allowed(held_out), frozenset())
    shift: Style = (_allowed(()), frozenset(held_out))
    columns = _frame(patients, [shift if s else plain for s in shifted], stream, "P", rates)
    columns = {"patient_id": columns.pop("patient_id"), "note": columns.pop("note"), "label": labels,
               "split": split, "shifted": shifted, **columns}  # fmt: skip
    return pd.DataFrame(columns)


def generate_unlabeled_notes(
    n_notes: int = 20000,
    *,
    seed: int = 0,
    held_out_families: tuple[str, ...] | list[str] = (),  # default: every family, as a broad corpus would
) -> pd.DataFrame:
    """Notes without labels for pretraining (ids ``U00001`` ...), from their own stream of patients."""
    import pandas as pd

    style: Style = (_allowed(_check_held_out(held_out_families)), frozenset())
    stream = f"diabetes-notes/unlabeled/{seed}"
    rng = random.Random(f"{stream}/patients")
    patients = [_draw_patient(rng) for _ in range(n_notes)]
    return pd.DataFrame(_frame(patients, [style] * n_notes, stream, "U"))


# ---------------------------------------------------------------------------------- house styles

# A hospital's house style: the paraphrase families its clinicians reach for whenever a concept has one
# (notebook 07 gives each federated hospital one, so the hospitals differ in words as well as in patients).
HOSPITAL_STYLES: dict[str, tuple[str, ...]] = {
    "abbreviations": ("diabetes:abbrev", "hypertension:abbrev", "hba1c:abbrev", "glucose:abbrev", "bmi:abbrev",
                      "negation:no_history"),
    "spelled_out": ("diabetes:full", "hypertension:full", "hba1c:full", "glucose:full", "bmi:full",
                    "negation:denies"),
    "lay_terms": ("hyperglycemia:lay", "polyuria:lay", "polydipsia:lay", "fatigue:lay", "blurred_vision:lay",
                  "weight_loss:lay", "neuropathy:lay", "negation:no"),
    "clinical_terms": ("hyperglycemia:clinical", "polyuria:clinical", "polydipsia:clinical", "fatigue:clinical",
                       "blurred_vision:clinical", "weight_loss:clinical", "neuropathy:clinical", "metformin:brand",
                       "negation:negative_for"),
    "mixed": (),  # no preference: every family, as the generator mixes them
}  # fmt: skip


def _patient_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """The structured record a note is written from, read back from a row of :func:`generate_notes`."""
    p: dict[str, Any] = {key: row[key] for key in STRUCTURED_COLUMNS}
    for key in ("age", "fasting_glucose", "systolic_bp", "diastolic_bp", "family_history"):
        p[key] = int(p[key])
    p["bmi"], p["hba1c"], p["sex"] = float(p["bmi"]), float(p["hba1c"]), str(p["sex"])
    for key in LIST_COLUMNS:
        value = row[key]
        p[key] = [] if not isinstance(value, str) or value == "" else value.split(";")
    return p


def restyle_notes(df: pd.DataFrame, style: str, *, seed: int = 0) -> pd.DataFrame:
    """The same patients' notes written again in a hospital's house style (:data:`HOSPITAL_STYLES`).

    Every note is rewritten from its row's structured columns, so labels, lab values and medications are
    unchanged and the label rule still holds for the text; only the words (and the random sentence order)
    change. Every family is allowed and the style's families are preferred whenever a concept has one.
    Returns a copy with ``note`` and ``families`` replaced.
    """
    if style not in HOSPITAL_STYLES:
        raise LlmkitError(f"style: expected one of {', '.join(HOSPITAL_STYLES)}, got {style!r}")
    missing = [c for c in ("patient_id", *STRUCTURED_COLUMNS, *LIST_COLUMNS) if c not in df.columns]
    if missing:
        raise LlmkitError(f"df: expected the columns of generate_notes, missing {missing}")
    allowed, prefer = _allowed(()), frozenset(HOSPITAL_STYLES[style])
    notes, families = [], []
    for row in df.to_dict("records"):
        writer = _Writer(
            random.Random(f"diabetes-notes/style/{style}/{seed}/{row['patient_id']}"), allowed, prefer
        )
        notes.append(_write_note(_patient_from_row(row), writer))
        families.append(";".join(sorted(writer.used)))
    out = df.copy()
    out["note"], out["families"] = notes, families
    return out


def diabetes_rule(df: pd.DataFrame) -> pd.Series:
    """The label rule on the structured columns (1 = diabetes), before label noise."""
    on_medication = (
        df["medications"]
        .fillna("")
        .astype(str)
        .map(lambda meds: any(m in DIABETES_MEDICATIONS for m in meds.split(";")))
    )
    return ((df["hba1c"] >= HBA1C_CUTOFF) | (df["fasting_glucose"] >= GLUCOSE_CUTOFF) | on_medication).astype(
        int
    )


def best_achievable_accuracy(df: pd.DataFrame) -> float:
    """Accuracy of the noise-free rule against the noisy labels: the ceiling for any model (= 1 - noise)."""
    return float((diabetes_rule(df) == df["label"]).mean())
