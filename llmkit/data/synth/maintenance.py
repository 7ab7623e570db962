"""Synthetic machine runs for predictive maintenance (设备预测维护): the manufacturing case study's data
(``notebooks/case_studies/manufacturing_maintenance.ipynb``; ``python -m llmkit.data.synth.maintenance``
rewrites the committed ``data/machine_maintenance``).

No public machine-failure table ships offline, so this generator writes one in the spirit of the AI4I 2020
Predictive Maintenance Dataset (Matzka 2020, "Explainable Artificial Intelligence for Predictive Maintenance
Applications", AI4I 2020; UCI, CC BY 4.0): one row per production run of a milling machine, with the air and
process temperature, the spindle's rotational speed and torque, the tool's wear, the product's quality variant
(L / M / H) -- and a short technician log note written before the run, in one of four styles.

**Failure mechanisms** (AI4I's four made smooth, and two more), each a probability per run::

    heat dissipation  0.9 * s((8.6 K - (process - air)) / 0.25 K) * s((1380 rpm - speed) / 20 rpm)
    power             0.9 * (s((3500 W - power) / 150 W) + s((power - 9000 W) / 150 W)),  power = torque * speed * 2 pi / 60
    overstrain        0.9 * s((wear * torque - limit) / 400),  limit 11,000 / 12,000 / 13,000 min Nm for L / M / H
    tool wear         0.25 * s((wear - 215 min) / 6 min)
    bearing           0.4 if the run has a bearing defect (3% of runs, independent of everything else), else 0
    random            0.001
    p(failure)        1 - the product of (1 - each)          s(x) = 1 / (1 + exp(-x))

The bearing defect is in no sensor column: the note of a run with one mentions a noise or a vibration 70% of the
time, and the note of a healthy run 3% of the time (a technician hears something that is nothing). So the notes
carry signal the sensors do not, and fusing them can be *measured*. Notes also echo the sensors ("running hot",
"tool looks worn"), which adds nothing a sensor model lacks. Given everything a model can see -- the row's
columns and whether its note mentions a noise -- the best probability is :func:`best_probability`, exact: every
draw is independent across runs given the columns (the tool's wear carries the history), so no other row helps.
Its PR-AUC on the test rows is the best achievable score, :func:`best_achievable_pr_auc`.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.core.errors import LlmkitError
from llmkit.data.synth import committed

if TYPE_CHECKING:
    import pandas as pd

DATASET_CALL: dict[str, Any] = {"n_runs": 10000, "seed": 0}  # the committed file
DATA_DIR = Path("data") / "machine_maintenance"  # relative to the repository root
CSV_NAME = "machine_maintenance.csv"
TEST_FRACTION = 0.2  # the latest runs: what the README's best achievable score is measured on
SENSOR_COLUMNS: tuple[str, ...] = ("air_temp_k", "process_temp_k", "speed_rpm", "torque_nm", "tool_wear_min")
STRAIN_LIMIT = {"L": 11000.0, "M": 12000.0, "H": 13000.0}  # min Nm, AI4I's overstrain limits
WEAR_PER_RUN = {"L": 2, "M": 3, "H": 5}  # minutes of tool wear a run adds, AI4I's
DEFECT_RATE, DEFECT_FAILURE = 0.02, 0.9  # bearing defects per run; a defect's failure probability
HEARD_IF_DEFECT, HEARD_IF_HEALTHY = 0.85, 0.01  # how often the note mentions a noise
RANDOM_FAILURE = 0.001
MACHINES = 10
TECHNICIANS = {
    "T01": "full",
    "T02": "full",
    "T03": "terse",
    "T04": "terse",
    "T05": "checklist",
    "T06": "shift",
}

NOISES = (  # a noise or vibration a technician heard: the bearing's only trace (never in a healthy phrase)
    "grinding noise from the spindle", "rattling at the spindle head", "vibration at the spindle",
    "high-pitched whine from the bearing", "knocking sound at start-up", "bearing sounds rough",
)  # fmt: skip
QUIET = ("runs quiet", "no unusual sound", "spindle smooth", "sounds normal")  # healthy, some styles say it
ROUTINE = (
    "coolant topped up", "chips cleared", "coolant level fine", "lube checked", "guards in place",
    "swarf removed", "fixture re-clamped", "air line drained", "filter cleaned",
)  # fmt: skip
HOT, WORN, HEAVY = (
    ("running hot", "housing warm to the touch"),
    ("tool looks worn", "edge dull"),
    ("heavy cut",),
)
SHORT = {"grinding noise from the spindle": "grinding spdl", "rattling at the spindle head": "rattle spdl head",
         "vibration at the spindle": "spdl vib", "high-pitched whine from the bearing": "brg whine",
         "knocking sound at start-up": "knock on start", "bearing sounds rough": "brg rough",
         "running hot": "hot", "housing warm to the touch": "housing warm", "tool looks worn": "tool worn",
         "edge dull": "edge dull", "heavy cut": "heavy cut"}  # fmt: skip


def _s(x: Any) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def mechanisms(frame: pd.DataFrame) -> pd.DataFrame:
    """Each sensor mechanism's failure probability per row (columns as in the module docstring), from the
    committed columns alone; the bearing's is not here (it is in no column)."""
    missing = [c for c in (*SENSOR_COLUMNS, "quality") if c not in frame.columns]
    if missing:
        raise LlmkitError(
            f"machine runs: missing column {missing[0]!r}; expected {', '.join(SENSOR_COLUMNS)}, quality"
        )
    import pandas as pd

    columns = [frame[c].to_numpy(float) for c in SENSOR_COLUMNS]
    limit = frame["quality"].map(STRAIN_LIMIT).to_numpy(float)
    names = ("heat dissipation", "power", "overstrain", "tool wear")
    return pd.DataFrame(_probabilities(*columns, limit), columns=names, index=frame.index)


def _probabilities(air: Any, proc: Any, speed: Any, torque: Any, wear: Any, limit: Any) -> np.ndarray:
    """[n, 4]: heat dissipation, power, overstrain and tool wear failure probabilities."""
    power = torque * speed * 2 * math.pi / 60
    return np.stack(
        [
            0.9 * _s((8.6 - (proc - air)) / 0.25) * _s((1380 - speed) / 20),
            0.9 * np.clip(_s((3500 - power) / 150) + _s((power - 9000) / 150), 0, 1),
            0.9 * _s((wear * torque - limit) / 400),
            0.25 * _s((wear - 215) / 6),
        ],
        axis=-1,
    )


def heard_noise(notes: Any) -> np.ndarray:
    """1 where a note mentions a noise or a vibration (any of :data:`NOISES`, in any style), else 0."""
    phrases = [p.lower() for p in NOISES] + [SHORT[p] for p in NOISES]
    return np.array([int(any(p in str(n).lower() for p in phrases)) for n in notes], dtype=np.int64)


def defect_posterior(heard: Any) -> np.ndarray:
    """P(bearing defect | whether the note mentions a noise), by Bayes' rule."""
    h = np.asarray(heard, dtype=np.float64)
    like_d = np.where(h == 1, HEARD_IF_DEFECT, 1 - HEARD_IF_DEFECT) * DEFECT_RATE
    like_h = np.where(h == 1, HEARD_IF_HEALTHY, 1 - HEARD_IF_HEALTHY) * (1 - DEFECT_RATE)
    return like_d / (like_d + like_h)


def best_probability(frame: pd.DataFrame, sensors_only: bool = False) -> np.ndarray:
    """The failure probability given what a model sees (the columns, and the note's noise); with
    ``sensors_only`` the best a model without the notes can do (the defect at its base rate)."""
    m = mechanisms(frame).to_numpy()
    defect = (
        np.full(len(frame), DEFECT_RATE) if sensors_only else defect_posterior(heard_noise(frame["note"]))
    )
    survive = np.prod(1 - m, axis=1) * (1 - RANDOM_FAILURE) * (1 - defect * DEFECT_FAILURE)
    return 1 - survive


def test_rows(frame: pd.DataFrame, test_fraction: float = TEST_FRACTION) -> np.ndarray:
    """The positions of the latest ``test_fraction`` of runs (the engine's chronological test split)."""
    order = np.argsort(frame["timestamp"].to_numpy(), kind="stable")
    return np.sort(order[len(frame) - round(len(frame) * test_fraction) :])


def best_achievable_pr_auc(frame: pd.DataFrame, sensors_only: bool = False) -> float:
    """PR-AUC of :func:`best_probability` on these rows (average precision, the engine's PR-AUC)."""
    from sklearn.metrics import average_precision_score

    return float(
        average_precision_score(frame["failure"] == "failure", best_probability(frame, sensors_only))
    )


# ------------------------------------------------------------------------------------------- generator


def _sensors(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    quality = rng.choice(np.array(["L", "M", "H"]), size=n, p=[0.5, 0.3, 0.2])
    walk = np.cumsum(rng.normal(0, 1, n))  # the hall's air: a slow random walk, then scaled to std 2 K
    walk = np.convolve(walk - walk.mean(), np.ones(50) / 50, mode="same")
    air = 300 + 2 * walk / max(walk.std(), 1e-9)
    process = air + 10 + rng.normal(0, 0.8, n)
    torque = np.clip(rng.normal(40, 10, n), 3.8, None)
    speed = np.clip(1540 * np.sqrt(40 / torque) + rng.normal(0, 60, n), 1160, 2890)  # falls as torque rises
    return {"quality": quality, "air_temp_k": np.round(air, 1), "process_temp_k": np.round(process, 1),
            "speed_rpm": np.round(speed).astype(np.int64), "torque_nm": np.round(torque, 1)}  # fmt: skip


def _note(style: str, heard: str | None, echoes: list[str], r: random.Random) -> str:
    routine = r.sample(ROUTINE, r.randint(1, 2))
    if heard is None and style in ("full", "checklist") and r.random() < 0.4:
        routine.append(r.choice(QUIET))
    findings = ([heard] if heard else []) + echoes
    if style == "full":
        parts = [p[0].upper() + p[1:] for p in routine + findings]
        r.shuffle(parts)
        return ". ".join(parts) + "."
    if style == "terse":
        parts = [
            SHORT.get(p, p.split()[0]) + " ok" if p in ROUTINE else SHORT.get(p, p)
            for p in routine + findings
        ]
        return "; ".join(parts)
    if style == "checklist":
        return " ".join([f"[x] {p}" for p in routine] + [f"[!] {p}" for p in findings])
    words = ", ".join(routine + findings)
    return f"Shift {r.randint(1, 3)} handover: {words}."


def generate_runs(n_runs: int = 10000, seed: int = 0, with_truth: bool = False) -> pd.DataFrame:
    """``n_runs`` machine runs in time order (one every 15 minutes on one of ten machines), each with its sensor
    columns, a technician's note and ``failure`` ("failure" / "no failure") drawn from the mechanisms above.
    ``with_truth`` adds what no model sees: ``bearing_defect`` and ``p_sensors`` (the sensor mechanisms'
    combined probability as the generator computed it, for the tests)."""
    import pandas as pd

    if n_runs < 20:
        raise LlmkitError(f"n_runs: expected at least 20 runs, got {n_runs}")
    rng, r = np.random.default_rng(seed), random.Random(f"maintenance/{seed}")
    cols = _sensors(n_runs, rng)
    machine = rng.integers(0, MACHINES, n_runs)
    defect = rng.random(n_runs) < DEFECT_RATE
    heard = rng.random(n_runs) < np.where(defect, HEARD_IF_DEFECT, HEARD_IF_HEALTHY)
    draws = rng.random(n_runs)
    frame = pd.DataFrame({"quality": cols["quality"], **{k: cols[k] for k in SENSOR_COLUMNS if k in cols}})
    wear = np.zeros(n_runs, dtype=np.int64)
    tool = np.zeros(MACHINES, dtype=np.int64)  # each machine's tool wear before its next run
    replace_at = rng.uniform(200, 240, MACHINES)  # planned tool change, AI4I's 200-240 min
    failed, p_all = np.zeros(n_runs, dtype=bool), np.zeros(n_runs)
    sensors = [cols[c].astype(float) for c in SENSOR_COLUMNS[:4]]
    for i in range(
        n_runs
    ):  # the wear carries each machine's history: a run's risk needs it, so it is sequential
        m = machine[i]
        if tool[m] >= replace_at[m]:
            tool[m], replace_at[m] = 0, rng.uniform(200, 240)
        wear[i] = tool[m] = tool[m] + WEAR_PER_RUN[str(cols["quality"][i])]
        q = str(cols["quality"][i])
        p_sensors = 1 - np.prod(1 - _probabilities(*(v[i] for v in sensors), float(wear[i]), STRAIN_LIMIT[q]))
        p_all[i] = p_sensors
        p = 1 - (1 - p_sensors) * (1 - RANDOM_FAILURE) * (1 - DEFECT_FAILURE * defect[i])
        failed[i] = draws[i] < p
        if failed[i] and wear[i] >= 190:
            tool[m], replace_at[m] = 0, rng.uniform(200, 240)  # repaired, and a worn tool replaced
    frame["tool_wear_min"] = wear
    techs = list(TECHNICIANS)
    notes, who = [], []
    for i, row in enumerate(frame.itertuples(index=False)):
        tech = techs[r.randrange(len(techs))]
        echoes = []
        if row.process_temp_k - row.air_temp_k < 9.0 and r.random() < 0.5:
            echoes.append(r.choice(HOT))
        if row.tool_wear_min > 190 and r.random() < 0.5:
            echoes.append(r.choice(WORN))
        if row.torque_nm > 55 and r.random() < 0.5:
            echoes.append(HEAVY[0])
        notes.append(_note(TECHNICIANS[tech], r.choice(NOISES) if heard[i] else None, echoes, r))
        who.append(tech)
    start = pd.Timestamp("2024-01-01 06:00")
    out = pd.DataFrame({
        "run_id": [f"R{i + 1:05d}" for i in range(n_runs)],
        "timestamp": [(start + pd.Timedelta(minutes=15 * i)).strftime("%Y-%m-%d %H:%M") for i in range(n_runs)],
        "machine": [f"M{m + 1:02d}" for m in machine], "technician": who,
    })  # fmt: skip
    out = pd.concat([out, frame[["quality", *SENSOR_COLUMNS]]], axis=1)
    out["note"] = notes
    out["failure"] = np.where(failed, "failure", "no failure")
    if with_truth:
        out["bearing_defect"], out["p_sensors"] = defect.astype(np.int64), p_all
    return out


# ---------------------------------------------------------------------------------------- committed file


def _readme(df: pd.DataFrame) -> str:
    call = ", ".join(f"{k}={v!r}" for k, v in DATASET_CALL.items())
    test = df.iloc[test_rows(df)]
    y = df["failure"] == "failure"
    shares = mechanisms(df).mean()
    mech = "\n".join(f"| {k} | {v:.4f} |" for k, v in shares.items())
    styles = ", ".join(f"{t} {s}" for t, s in TECHNICIANS.items())
    return f"""# machine_maintenance -- synthetic machine runs for predictive maintenance

Generated, not real: no machine exists. License: CC0 1.0 (public domain dedication). The failure mechanisms follow
the AI4I 2020 Predictive Maintenance Dataset (Matzka 2020, AI4I 2020; UCI Machine Learning Repository, CC BY 4.0),
made smooth, with a bearing defect added that only the technicians' notes reveal; no row of AI4I is copied.

`{CSV_NAME}` ({len(df)} runs, {int(y.sum())} failures, {y.mean():.2%}) is written by
`llmkit.data.synth.maintenance.write_dataset()` (`python -m llmkit.data.synth.maintenance`), which calls
`generate_runs({call})`. `tests/test_maintenance.py` regenerates it and checks it byte for byte. Load it with
`llmkit.data.synth.maintenance.load_machine_maintenance()`.

## Failure rule

Per run, each mechanism's probability (s(x) = 1 / (1 + exp(-x)); power = torque * speed * 2 pi / 60 W):

    heat dissipation  0.9 * s((8.6 K - (process - air)) / 0.25 K) * s((1380 rpm - speed) / 20 rpm)
    power             0.9 * (s((3500 W - power) / 150 W) + s((power - 9000 W) / 150 W))
    overstrain        0.9 * s((wear * torque - limit) / 400), limit {STRAIN_LIMIT["L"]:,.0f} / {STRAIN_LIMIT["M"]:,.0f} / {STRAIN_LIMIT["H"]:,.0f} min Nm for L / M / H
    tool wear         0.25 * s((wear - 215 min) / 6 min)
    bearing           {DEFECT_FAILURE} if the run has a bearing defect ({DEFECT_RATE:.1%} of runs, independent of everything), else 0
    random            {RANDOM_FAILURE}
    p(failure)        1 - the product of (1 - each); failure = a uniform draw < p(failure)

The bearing defect is in no column. A run's note mentions a noise or vibration ({", ".join(NOISES)};
shortened in the terse style) {HEARD_IF_DEFECT:.0%} of the time with a defect and {HEARD_IF_HEALTHY:.0%} without.
Given a row's columns and whether its note mentions a noise, the failure probability is exactly
`best_probability(frame)`; its PR-AUC is the **best achievable score** (no model can rank better in expectation).
Without the notes the best is `best_probability(frame, sensors_only=True)` (the defect at its base rate).

| rows | runs | failure rate | best achievable PR-AUC | best without the notes |
|---|---|---|---|---|
| all | {len(df)} | {y.mean():.4f} | {best_achievable_pr_auc(df):.4f} | {best_achievable_pr_auc(df, True):.4f} |
| test (the latest {TEST_FRACTION:.0%}) | {len(test)} | {(test["failure"] == "failure").mean():.4f} | {best_achievable_pr_auc(test):.4f} | {best_achievable_pr_auc(test, True):.4f} |

Mean probability of each sensor mechanism over all runs:

| mechanism | mean probability |
|---|---|
{mech}

## Columns

| column | meaning |
|---|---|
| run_id | R00001 ... in time order |
| timestamp | start of the run, one every 15 minutes from 2024-01-01 06:00 |
| machine | M01 ... M{MACHINES:02d}: the machine (each keeps its own tool) |
| technician | who wrote the note; each writes in one style ({styles}) |
| quality | product variant L / M / H (50 / 30 / 20%); adds {WEAR_PER_RUN["L"]} / {WEAR_PER_RUN["M"]} / {WEAR_PER_RUN["H"]} min of tool wear |
| air_temp_k | air temperature, K (a slow random walk around 300 K, std 2 K) |
| process_temp_k | process temperature, K (air + 10 K + noise) |
| speed_rpm | spindle speed, rpm (falls as torque rises; 1,160-2,890) |
| torque_nm | torque, Nm (normal, mean 40, std 10) |
| tool_wear_min | the tool's wear after this run, minutes; a tool is changed at 200-240 min, or after a failure from 190 min |
| note | the technician's log note, written before the run |
| failure | "failure" or "no failure": the outcome of the run |
"""


def dataset_files(df: pd.DataFrame) -> dict[str, str]:
    """The committed files' contents for a generated frame: ``{file name: text}``."""
    return {CSV_NAME: df.to_csv(index=False, lineterminator="\n"), "README.md": _readme(df)}


def write_dataset(out_dir: str | Path | None = None) -> Path:
    """Write ``machine_maintenance.csv`` and its ``README.md`` (default: ``<repo>/data/machine_maintenance``)."""
    return committed.write_files(DATA_DIR, dataset_files(generate_runs(**DATASET_CALL)), out_dir) / CSV_NAME


def load_machine_maintenance() -> pd.DataFrame:
    """The committed machine runs; regenerated into the cache if the file is absent."""
    from llmkit.data.tables import read_table

    path = committed.committed_csv(DATA_DIR, CSV_NAME, write_dataset)
    return read_table(path)


if __name__ == "__main__":
    start = time.perf_counter()
    csv = write_dataset()
    data = load_machine_maintenance()
    print(f"{csv}: {len(data)} runs in {time.perf_counter() - start:.1f} s, failure rate "
          f"{(data['failure'] == 'failure').mean():.4f}, best achievable PR-AUC {best_achievable_pr_auc(data):.4f}")  # fmt: skip
