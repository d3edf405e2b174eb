"""RFM scoring and segment labels (docs/business-rules.md#rfm-segments).

Per organization and day D (organization-local), as of the end of D: the valid sales dated in
the 12 months that end with D (`(D - 12 months, D]`, D's own sales included) give each client
R = days from its last purchase day to D (0 = bought on D, the best), F = purchases, M = their
total. Scores 1–5:

- by the organization's own thresholds when it set them (`configuracao.rfm`, the old
  CONFIG_RFM, read for that organization only): closed `[min, max]` buckets per score, a value
  between two buckets takes the lower bucket's score, so no value falls through (the old code
  gave 1 to R = 0 and to values in gaps);
- otherwise by quintiles of the organization's buyers, ties broken by rank ("first", clients in
  id order) so there are always five bins: score = ⌊(rank − ½) · 5 / n⌋ + 1 (the quintile of
  the rank's midpoint: a lone buyer scores 3, not 1), recency inverted.

Clients whose purchases are all older than the window score (1, 1, 1), PERDIDOS; clients who
never bought are not scored (they keep their label and trigger no segment campaign: calling a
client made in the CRM a lost customer is wrong). `label` is total: each of the 125
(R, F, M) maps to exactly one of the 11 segments (the usual R×F grid, with PERDIDOS split off
the bottom of HIBERNANDO).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from recompra_pipelines.domain.segments import RfmSegment

# The old CRM's default thresholds, per score: [min, max] (max None = no limit).
DEFAULT_THRESHOLDS: dict[str, dict[int, tuple[float, float | None]]] = {
    "recency_days": {5: (0, 30), 4: (31, 90), 3: (91, 180), 2: (181, 270), 1: (271, 999)},
    "frequency": {1: (1, 1), 2: (2, 2), 3: (3, 5), 4: (6, 10), 5: (11, None)},
    "monetary": {1: (1, 100), 2: (101, 300), 3: (301, 750), 4: (751, 2000), 5: (2001, None)},
}


def label(r: int, f: int, m: int) -> RfmSegment:
    """The segment of one (R, F, M): R×F grid; M only separates PERDIDOS from HIBERNANDO."""
    for score in (r, f, m):
        if score not in (1, 2, 3, 4, 5):
            raise ValueError(f"RFM scores are 1..5, got {(r, f, m)}")
    if r <= 2:
        if f <= 2:
            return RfmSegment.LOST if r == 1 and m <= 2 else RfmSegment.HIBERNATING
        return RfmSegment.AT_RISK if f <= 4 else RfmSegment.CANNOT_LOSE
    if r == 3:
        return (
            (RfmSegment.ABOUT_TO_SLEEP, RfmSegment.ABOUT_TO_SLEEP, RfmSegment.NEED_ATTENTION)[f - 1]
            if f <= 3
            else RfmSegment.LOYAL
        )
    if f == 1:
        return RfmSegment.PROMISING if r == 4 else RfmSegment.RECENT
    if f <= 3:
        return RfmSegment.POTENTIAL_LOYAL
    return RfmSegment.LOYAL if r == 4 else RfmSegment.CHAMPIONS


# The label of every (R, F, M), as a lookup array indexed [r-1, f-1, m-1].
_LABELS = np.array(
    [[[label(r, f, m).value for m in range(1, 6)] for f in range(1, 6)] for r in range(1, 6)],
    dtype=object,
)


def parse_thresholds(raw: Mapping[str, Any] | None) -> dict[str, dict[int, tuple]] | None:
    """An organization's stored thresholds (`{"recency_days": {"5": [0, 30], …}, …}`)."""
    if not raw:
        return None
    parsed = {}
    for dimension in DEFAULT_THRESHOLDS:
        buckets = raw.get(dimension)
        if not buckets:
            return None
        parsed[dimension] = {
            int(score): (float(bounds[0]), None if bounds[1] is None else float(bounds[1]))
            for score, bounds in buckets.items()
        }
    return parsed


def _by_thresholds(values: np.ndarray, buckets: Mapping[int, tuple]) -> np.ndarray:
    """The score of the last bucket (by min) whose min ≤ value; below every bucket: the
    lowest bucket's score if it is score 5 (recency), else 1."""
    ordered = sorted(buckets.items(), key=lambda item: item[1][0])
    mins = np.array([bounds[0] for _, bounds in ordered], dtype=float)
    scores = np.array([score for score, _ in ordered], dtype=np.int8)
    position = np.searchsorted(mins, values, side="right") - 1
    below = scores[0] if scores[0] == 5 else 1
    return np.where(position < 0, below, scores[np.clip(position, 0, None)]).astype(np.int8)


def _by_rank(values: pd.Series, higher_is_better: bool) -> np.ndarray:
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int8)
    ranks = values.rank(method="first", ascending=higher_is_better).to_numpy()
    return ((ranks - 0.5) * 5 // n + 1).astype(np.int8)


def score(
    frame: pd.DataFrame, thresholds: Mapping[str, Mapping[int, tuple]] | None
) -> pd.DataFrame:
    """Add `r`, `f`, `m` and `segmento` to a frame with one row per client: `cliente_id`,
    `recencia` (days, NaN without purchases), `frequencia` (count), `monetario` (total)."""
    frame = frame.sort_values("cliente_id", key=lambda ids: ids.astype(str), kind="stable")
    bought = frame["frequencia"].to_numpy() > 0
    r = np.ones(len(frame), dtype=np.int8)
    f = np.ones(len(frame), dtype=np.int8)
    m = np.ones(len(frame), dtype=np.int8)
    buyers = frame[bought]
    if thresholds is not None:
        r[bought] = _by_thresholds(buyers["recencia"].to_numpy(float), thresholds["recency_days"])
        f[bought] = _by_thresholds(buyers["frequencia"].to_numpy(float), thresholds["frequency"])
        m[bought] = _by_thresholds(buyers["monetario"].to_numpy(float), thresholds["monetary"])
    else:
        # Recency: fewer days is better, so rank descending days -> the most recent rank last.
        r[bought] = _by_rank(buyers["recencia"].astype(float), higher_is_better=False)
        f[bought] = _by_rank(buyers["frequencia"].astype(float), higher_is_better=True)
        m[bought] = _by_rank(buyers["monetario"].astype(float), higher_is_better=True)
    frame = frame.assign(r=r, f=f, m=m)
    frame["segmento"] = _LABELS[r - 1, f - 1, m - 1]
    return frame
