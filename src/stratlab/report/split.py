"""The chronological split of a dataset: its two kinds, the names of their parts, and one part's bar range.

A run cuts its dataset this way (``stratlab.optimize.context``) and a manifest records the parts
(``stratlab.report.manifest``); both read these definitions, which live here because the manifest's layer may not
import the optimiser. JSON files carry the plain names ("train", "test", "validation", "holdout").
"""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict

from stratlab.errors import ConfigError


class PartName(enum.StrEnum):
    """One part of a split: train (searched on), test or validation (candidates compared), holdout (seen once)."""

    TRAIN = "train"
    TEST = "test"
    VALIDATION = "validation"
    HOLDOUT = "holdout"


class PartRole(enum.StrEnum):
    """What a part's figures are worth: only a part no choice looked at is out-of-sample."""

    SEARCHED = "in-sample: searched by the optimiser"
    SELECTION = "selection figure: it chose the champion, so it is not out-of-sample"
    OUT_OF_SAMPLE = "out-of-sample: no choice looked at it"


class SplitKind(enum.StrEnum):
    """Two-way (train/test) or three-way (train/validation/holdout); the value lists the parts in time order."""

    TWO_WAY = "train/test"
    THREE_WAY = "train/validation/holdout"

    @classmethod
    def of(cls, n_parts: int) -> SplitKind:
        """The kind with ``n_parts`` parts."""
        for kind in cls:
            if len(kind.parts) == n_parts:
                return kind
        raise ConfigError(f"split: two or three parts, got {n_parts}")

    @property
    def parts(self) -> tuple[PartName, ...]:
        return tuple(PartName(name) for name in self.value.split("/"))

    @property
    def selection_part(self) -> PartName:
        """Where candidates are compared and the champion chosen: the part right after train."""
        return self.parts[1]

    def role(self, part: PartName | str) -> PartRole:
        """The role of ``part`` in this split (see ``PartRole``)."""
        if part == PartName.TRAIN:
            return PartRole.SEARCHED
        return PartRole.SELECTION if part == self.selection_part else PartRole.OUT_OF_SAMPLE

    @property
    def roles(self) -> dict[PartName, PartRole]:
        return {part: self.role(part) for part in self.parts}

    @property
    def holdout_part(self) -> PartName | None:
        """The part no choice looks at (reported once, for the champion), if the split has one."""
        return PartName.HOLDOUT if PartName.HOLDOUT in self.parts else None


class SplitPart(BaseModel):
    """One chronological part of the dataset: bars ``[start, end)`` of the loaded candles."""

    model_config = ConfigDict(frozen=True)

    name: PartName
    start: int
    end: int
    first_bar_ms: int
    last_bar_ms: int


__all__ = ["PartName", "PartRole", "SplitKind", "SplitPart"]
