"""The words of the synthetic clinical notes: paraphrase families per concept, symptom rates, distractor
conditions, medication forms and doses, sentence templates and lab phrasings (:mod:`clinical_notes` draws
from them)."""

from __future__ import annotations

# fmt: off
# concept -> family -> surface forms; a family is one way of naming the concept
FAMILIES: dict[str, dict[str, tuple[str, ...]]] = {
    "diabetes": {"abbrev": ("T2DM", "DM2", "T2D"), "full": ("type 2 diabetes", "type 2 diabetes mellitus")},
    "hypertension": {"abbrev": ("HTN",), "full": ("hypertension", "high blood pressure")},
    "hyperglycemia": {"clinical": ("hyperglycemia",), "lay": ("high blood sugar", "high sugars"),
                      "lab": ("elevated glucose", "elevated blood glucose")},
    "hba1c": {"abbrev": ("HbA1c", "A1c", "Hgb A1c"), "full": ("hemoglobin A1c", "glycated hemoglobin")},
    "glucose": {"abbrev": ("FBG", "FPG"), "full": ("fasting glucose", "fasting blood glucose", "fasting blood sugar")},
    "bmi": {"abbrev": ("BMI",), "full": ("body mass index",)},
    "polyuria": {"clinical": ("polyuria",), "lay": ("frequent urination", "increased urination")},
    "polydipsia": {"clinical": ("polydipsia",), "lay": ("excessive thirst", "increased thirst", "constant thirst")},
    "fatigue": {"clinical": ("fatigue", "malaise"), "lay": ("tiredness", "low energy")},
    "blurred_vision": {"clinical": ("blurred vision", "visual blurring"), "lay": ("blurry vision",)},
    "weight_loss": {"clinical": ("unintentional weight loss",), "lay": ("weight loss without trying",)},
    "neuropathy": {"clinical": ("peripheral neuropathy",), "lay": ("numbness in the feet", "tingling in both feet")},
    "metformin": {"generic": ("metformin", "metformin ER"), "brand": ("Glucophage",)},
    "negation": {"denies": ("denies {}", "pt denies {}"), "no_history": ("no history of {}", "no hx of {}"),
                 "negative_for": ("negative for {}", "ROS negative for {}"), "no": ("no {}",)},
}
# symptom -> probability when (diabetic with fasting glucose >= 140, other diabetic, not diabetic)
SYMPTOM_RATES: dict[str, tuple[float, float, float]] = {
    "polyuria": (0.55, 0.15, 0.04), "polydipsia": (0.50, 0.12, 0.03), "fatigue": (0.50, 0.35, 0.20),
    "blurred_vision": (0.25, 0.08, 0.03), "weight_loss": (0.20, 0.05, 0.03), "neuropathy": (0.20, 0.12, 0.02),
}
# distractor condition -> (surface forms, prevalence, usual medication)
DISTRACTORS: dict[str, tuple[tuple[str, ...], float, str]] = {
    "asthma": (("asthma",), 0.09, "albuterol"),
    "gerd": (("GERD", "acid reflux", "gastroesophageal reflux disease"), 0.14, "omeprazole"),
    "osteoarthritis": (("osteoarthritis", "OA of the knee", "degenerative joint disease"), 0.15, "acetaminophen"),
    "hypothyroidism": (("hypothyroidism",), 0.07, "levothyroxine"),
    "depression": (("depression", "MDD"), 0.10, "sertraline"),
    "hyperlipidemia": (("hyperlipidemia", "HLD", "high cholesterol"), 0.20, "atorvastatin"),
}
MED_FORMS: dict[str, tuple[str, ...]] = {"insulin": ("insulin glargine", "basal insulin", "insulin")}
MED_DOSES: dict[str, tuple[str, ...]] = {
    "metformin": ("500 mg BID", "1000 mg BID", "850 mg daily"), "insulin": ("20 units at bedtime", "30 units daily"),
    "lisinopril": ("10 mg daily", "20 mg daily"), "amlodipine": ("5 mg daily",), "albuterol": ("inhaler PRN",),
    "atorvastatin": ("20 mg daily", "40 mg nightly"), "acetaminophen": ("PRN",), "levothyroxine": ("50 mcg daily",),
}
# sentence templates; the note's sentences are shuffled, the intro usually first and the plan last
TEMPLATES: dict[str, tuple[str, ...]] = {
    "intro": ("{a}-year-old {s} presenting for {why}.", "{a} yo {x} seen for {why}.",
              "Pt is a {a}-year-old {s} here for {why}.", "{a}-year-old {s}, here for {why}."),
    "reason": ("routine follow-up", "an annual physical", "medication review", "knee pain", "a cough",
               "a wellness visit", "lab review", "a preoperative evaluation", "a new patient visit"),
    "history": ("PMH: {}.", "Past medical history of {}.", "History significant for {}.", "Hx: {}."),
    "reports": ("Reports {}.", "Complains of {}.", "C/o {}.", "Endorses {}.", "Notes {} for weeks."),
    "bp": ("BP {}/{}", "blood pressure {}/{}"),
    "bmi": ("{} {}", "{} of {}", "{} {} kg/m2"),
    "vitals": ("Vitals: {}.", "On exam, {}.", "{}."),
    "hba1c": ("{} {}%", "{} of {}%", "{} {}", "{}: {}%"),
    "glucose": ("{} {} mg/dL", "{} of {} mg/dL", "{} {}", "{}: {} mg/dl"),
    "labs": ("Labs: {}.", "Recent labs show {}.", "Lab results: {}.", "{}."),
    "hyperglycemia": ("Labs notable for {}.", "Chart review notes {}.", "Prior visits documented {}."),
    "relative": ("mother", "father", "sister", "brother", "maternal grandmother"),
    "family": ("FHx: {r} with {d}.", "Family history of {d} ({r}).", "{r} has {d}."),
    "meds": ("Medications: {}.", "Meds: {}.", "Current medications include {}.", "Takes {}."),
    "no_meds": ("No regular medications.", "Meds: none.", "Not on any medications."),
    "allergies": ("NKDA.", "No known drug allergies.", "Allergies: penicillin.", "Allergic to sulfa."),
    "plan": ("follow up in 3 months", "continue current management", "repeat labs in 6 months",
             "counseled on diet and exercise", "flu vaccine given", "return if symptoms worsen"),
}
LAB_MODES = ("number",) * 15 + ("category",) * 2 + ("omit",) * 3  # how a note gives a lab: 75 / 10 / 15 %
# fmt: on
