"""What a model reads: feature names in input order, their kind, what training saw of them.

The schema travels inside the signed artifact and on ``model-versions``, so a scorer
can tell, before loading a model, whether the events it receives can feed it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Literal

import msgspec

from contracts.feature_rows import category_text

FeatureKind = Literal["numeric", "categorical"]
FeatureValue = float | int | str | None
Features = Mapping[str, FeatureValue]

KINDS: Final = ("numeric", "categorical")
# A categorical feature with thousands of values is an identifier, not a category;
# the schema keeps the most frequent ones so the artifact and the record stay small.
MAX_CATEGORIES_KEPT: Final = 1000


class FeatureSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One input column of a model.

    ``categories`` (categorical) and ``minimum``/``maximum`` (numeric) are what the
    training data held; values outside them are still scored (unknown categories
    encode as all zeros, numbers are clipped by the pipeline), except a negative value
    of a feature that was never negative, which is refused as broken data.
    """

    name: str
    kind: FeatureKind
    categories: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


class FeatureSchema(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The ordered input columns of a model, and the columns dropped before training.

    Examples
    --------
    >>> schema = infer_schema([{"cart": 3.0, "device": "ios"}, {"cart": None, "device": "web"}])
    >>> schema.names, schema.kinds()
    (('cart', 'device'), {'cart': 'numeric', 'device': 'categorical'})
    >>> schema.feed_problems({"cart": "numeric"})
    ['feature `device` (categorical) is not in the contract']
    """

    features: tuple[FeatureSpec, ...]
    dropped: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def kinds(self) -> dict[str, FeatureKind]:
        return {f.name: f.kind for f in self.features}

    def indices(self, kind: FeatureKind) -> list[int]:
        """Positions of the columns of one kind in the model's input array."""
        return [i for i, f in enumerate(self.features) if f.kind == kind]

    def feed_problems(self, available: Mapping[str, str]) -> list[str]:
        """Why features of the given names and kinds cannot feed this model (empty if they can).

        Extra available features are fine: the vectoriser reads only what the model needs.
        """
        problems = []
        for spec in self.features:
            kind = available.get(spec.name)
            if kind is None:
                problems.append(f"feature `{spec.name}` ({spec.kind}) is not in the contract")
            elif kind != spec.kind:
                problems.append(
                    f"feature `{spec.name}` is {spec.kind} in the model but {kind} in the contract"
                )
        return problems

    def to_json(self) -> bytes:
        return msgspec.json.encode(self)

    @classmethod
    def from_json(cls, data: bytes) -> FeatureSchema:
        return msgspec.json.decode(data, type=cls)


def infer_schema(
    rows: Sequence[Features],
    *,
    drop: Iterable[str] = (),
    kinds: Mapping[str, FeatureKind] | None = None,
) -> FeatureSchema:
    """Read the schema off training rows.

    A column is numeric when every present value is a number, categorical otherwise
    (numbers in a categorical column are read as their text). ``kinds`` overrides the
    guess; ``drop`` names columns the model must not see (identifiers, leaks).
    Columns are sorted by name so the same data always gives the same input order.
    """
    dropped = tuple(sorted(set(drop)))
    overrides = dict(kinds or {})
    for name, kind in overrides.items():
        if kind not in KINDS:
            raise ValueError(f"kind of feature `{name}` is {kind!r}; expected one of {KINDS}")
    names = sorted({name for row in rows for name in row} - set(dropped))
    specs = []
    for name in names:
        values = [v for row in rows if (v := row.get(name)) is not None and not _is_nan(v)]
        kind = overrides.get(name) or _guess_kind(values)
        specs.append(_spec(name, kind, values))
    return FeatureSchema(features=tuple(specs), dropped=dropped)


def _is_nan(value: FeatureValue) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _guess_kind(values: list[float | int | str]) -> FeatureKind:
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "numeric"
    return "categorical"


def _spec(name: str, kind: FeatureKind, values: list[float | int | str]) -> FeatureSpec:
    if kind == "numeric":
        try:
            numbers = [float(v) for v in values]
        except ValueError as exc:
            raise ValueError(f"feature `{name}` is numeric but holds text: {exc}") from None
        if not numbers:
            return FeatureSpec(name=name, kind=kind)
        return FeatureSpec(name=name, kind=kind, minimum=min(numbers), maximum=max(numbers))
    counts = Counter(t for v in values if (t := category_text(v)) is not None)
    kept = sorted(c for c, _ in counts.most_common(MAX_CATEGORIES_KEPT))
    return FeatureSpec(name=name, kind=kind, categories=tuple(kept))


__all__ = [
    "FeatureKind",
    "FeatureSchema",
    "FeatureSpec",
    "FeatureValue",
    "Features",
    "category_text",
    "infer_schema",
]
