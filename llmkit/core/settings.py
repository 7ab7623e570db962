"""A notebook's per-profile sizes as one frozen dataclass: ``Settings.for_profile(profile, name=value, ...)``.

A stage declares each size once, with its value at every profile::

    @dataclass(frozen=True)
    class FinetuneSettings(ProfileSettings):
        seed_train_size: int = per_profile(8, 64, 3000)
        condition_epochs: int = per_profile(1, 2, 5, falsy_default=False)  # 0 is a value: it skips

and a notebook's setup cell passes its parameters through: ``None`` (the parameters cell's "None -> per
profile") takes the profile's value, anything else is kept. Most sizes follow the notebooks' ``x or
default``: every falsy override (``None``, ``0``, ``[]``) takes the default; a field declared with
``falsy_default=False`` follows ``x if x is not None else default``, so ``0`` or ``[]`` is a value.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from llmkit.core.config import PROFILES, resolve_profile
from llmkit.core.errors import LlmkitError

T = TypeVar("T")
S = TypeVar("S", bound="ProfileSettings")

_KEY = "llmkit_per_profile"  # the field metadata that holds (values by profile, falsy_default)

# A default may depend on the fields declared before it: a callable gets them (name -> resolved value).
Derived = Callable[[Mapping[str, Any]], Any]


def per_profile(
    smoke: T | Derived, lesson: T | Derived, full: T | Derived, *, falsy_default: bool = True
) -> T:
    """A dataclass field of a :class:`ProfileSettings` whose default is ``smoke``, ``lesson`` or ``full``.

    A value may be a callable of the fields declared before it (``lambda v: [16, v["pool_size"]]``), for a
    default that follows another size. ``falsy_default=False``: only ``None`` means "the profile's value",
    so ``0`` and ``[]`` are kept (a notebook's ``x if x is not None else ...``). The field is keyword-only
    and has no plain default: build the class with :meth:`ProfileSettings.for_profile`.
    """
    values = dict(zip(PROFILES, (smoke, lesson, full), strict=True))
    return dataclasses.field(kw_only=True, metadata={_KEY: (values, falsy_default)})


@dataclasses.dataclass(frozen=True)
class ProfileSettings:
    """Base of a notebook's settings: subclass it as a frozen dataclass with :func:`per_profile` fields."""

    @classmethod
    def for_profile(cls: type[S], profile: str | None = None, **overrides: Any) -> S:
        """The settings at ``profile`` (resolved as in :func:`llmkit.core.config.resolve_profile`).

        ``overrides`` are the notebook's parameters by field name; ``None`` (or, for the usual field,
        any falsy value) means the profile's value. A name that is no field raises :class:`LlmkitError`.
        """
        profile = resolve_profile(profile)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - set(fields))
        if unknown:
            raise LlmkitError(
                f"{cls.__name__}: no setting {', '.join(map(repr, unknown))}; valid names: {', '.join(fields)}"
            )
        values: dict[str, Any] = {}  # what the class is built with
        seen: dict[str, Any] = {}  # the fields so far, plain defaults too: what a derived default reads
        for name, field in fields.items():
            given = overrides.get(name)
            if _KEY not in field.metadata:  # a plain field: its own default unless given
                if name in overrides:
                    values[name] = seen[name] = given
                elif field.default is not dataclasses.MISSING:
                    seen[name] = field.default
                continue
            by_profile, falsy_default = field.metadata[_KEY]
            if given is None or (falsy_default and not given):
                default = by_profile[profile]
                given = default(seen) if callable(default) else copy.deepcopy(default)
            values[name] = seen[name] = given
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """Every field by name (the metrics a notebook may record, or a line to print)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
