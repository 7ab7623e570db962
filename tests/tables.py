"""Tables the way analysts have them, made in the tests (the engine's unit tests and the README's commands):
a loan book of numbers and categories, Latin-1 headlines, a time-ordered daily demand, an Excel sheet of sensor
readings. Each is seeded, small, and has a signal a model can find."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def loans(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Numbers, an id column and a categorical; 'default' is the event (about a quarter of the rows)."""
    rng = np.random.default_rng(seed)
    income, debt = rng.normal(size=n), rng.normal(size=n)
    home = rng.choice(["rent", "own", "parents"], size=n)
    risk = -income + 0.5 * debt + 0.4 * (home == "rent") + rng.normal(scale=0.5, size=n)
    status = np.where(risk > 0.8, "default", "paid")
    return pd.DataFrame(
        {"loan_id": np.arange(n), "income": income, "debt": debt, "home": home, "status": status}
    )


def headlines(n: int = 120, seed: int = 1) -> pd.DataFrame:
    """Short French market headlines with accents and a pound sign (Latin-1 encodable), and their sentiment."""
    rng = np.random.default_rng(seed)
    good = ["bénéfice en hausse, prévisions relevées", "le chiffre d'affaires progresse de 5 £"]
    bad = ["perte nette, l'action chute", "avertissement sur résultats, dette élevée"]
    rows = []
    for i in range(n):
        positive = i % 2 == 0
        text = (good if positive else bad)[rng.integers(2)]
        rows.append((f"{text}, séance n°{i}", "positive" if positive else "negative"))
    return pd.DataFrame(rows, columns=["headline", "sentiment"])


def demand(n: int = 400, seed: int = 2) -> pd.DataFrame:
    """A daily random walk (the demand) with a noise column and yesterday's value; rows shuffled."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2020-01-01", periods=n, freq="D")
    level = np.cumsum(rng.normal(size=n)) + 50
    frame = pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "temperature": rng.normal(size=n),
                          "demand": level + rng.normal(scale=0.3, size=n)})  # fmt: skip
    frame["yesterday"] = frame["demand"].shift(1).fillna(50.0)
    return frame.sample(frac=1.0, random_state=0).reset_index(drop=True)


def sensors(n: int = 200, seed: int = 3) -> pd.DataFrame:
    """Machine readings with a production line (categorical) and whether the machine failed."""
    frame = loans(n, seed).rename(columns={"status": "failure", "income": "vibration", "debt": "temperature"})
    frame["failure"] = frame["failure"].map({"default": "yes", "paid": "no"})
    frame["line"] = np.where(np.arange(n) % 3 == 0, "A", "B")
    return frame.drop(columns="home")


def write_all(folder: Path) -> dict[str, Path]:
    """The four tables as the README's files: loans.csv, headlines.csv (Latin-1), demand.parquet, sensors.xlsx."""
    folder = Path(folder)
    paths = {name: folder / name for name in ("loans.csv", "headlines.csv", "demand.parquet", "sensors.xlsx")}
    loans().to_csv(paths["loans.csv"], index=False)
    headlines().to_csv(paths["headlines.csv"], index=False, encoding="latin-1")
    demand().to_parquet(paths["demand.parquet"])
    sensors().to_excel(paths["sensors.xlsx"], index=False, sheet_name="readings")
    return paths
