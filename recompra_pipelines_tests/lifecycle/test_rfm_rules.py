"""RFM: the label function is total over the 125 scores; both scoring methods."""

from __future__ import annotations

import itertools
from collections import Counter

import pandas as pd
import pytest

from recompra_pipelines.domain.rfm import DEFAULT_THRESHOLDS, label, score
from recompra_pipelines.domain.segments import RFM_SEGMENTS


def test_every_one_of_the_125_combinations_has_exactly_one_of_the_11_segments():
    labels = {(r, f, m): label(r, f, m) for r, f, m in itertools.product(range(1, 6), repeat=3)}
    assert len(labels) == 125
    assert set(labels.values()) == set(RFM_SEGMENTS)  # all 11 used, nothing else
    counts = Counter(labels.values())
    assert counts == {
        "HIBERNANDO": 16, "PERDIDOS": 4, "EM RISCO": 20, "NÃO PODE PERDÊ-LOS": 10,
        "PRESTES A DORMIR": 10, "PRECISAM DE ATENÇÃO": 5, "CLIENTES LEAIS": 20,
        "PROMISSORES": 5, "CLIENTES RECENTES": 5, "POTENCIAIS CLIENTES LEAIS": 20,
        "CAMPEÕES": 10,
    }  # fmt: skip
    # The grid's anchors (docs/business-rules.md#rfm-segments) and the old bug: a recent one-time
    # buyer is no longer lost.
    assert label(5, 5, 5) == "CAMPEÕES"
    assert label(5, 1, 1) == "CLIENTES RECENTES"
    assert label(1, 1, 1) == "PERDIDOS"
    assert label(1, 1, 3) == "HIBERNANDO"
    assert label(2, 5, 1) == "NÃO PODE PERDÊ-LOS"
    with pytest.raises(ValueError):
        label(0, 1, 1)


def _frame(rows):
    return pd.DataFrame(rows, columns=["cliente_id", "recencia", "frequencia", "monetario"])


def test_thresholds_recency_zero_scores_best_and_gaps_take_the_lower_bucket():
    frame = _frame([
        ("a", 0, 1, 100.5), ("b", 31, 2, 300.5), ("c", 1000, 11, 5000), ("d", None, 0, 0),
    ])  # fmt: skip
    out = score(frame, DEFAULT_THRESHOLDS).set_index("cliente_id")
    assert out.loc[["a", "b", "c", "d"], ["r", "f", "m"]].values.tolist() == [
        [5, 1, 1], [4, 2, 2], [1, 5, 5], [1, 1, 1],
    ]  # fmt: skip
    assert out.loc["a", "segmento"] == "CLIENTES RECENTES"


def test_quintiles_rank_first_five_bins_even_with_ties():
    frame = _frame([(f"c{i:02d}", i, 1, 10.0) for i in range(10)])  # all F and M tied
    out = score(frame, None).set_index("cliente_id")
    assert out["f"].value_counts().to_dict() == {1: 2, 2: 2, 3: 2, 4: 2, 5: 2}
    assert out.loc["c00", "r"] == 5 and out.loc["c09", "r"] == 1  # recency 0 scores best
    single = score(_frame([("x", 3, 2, 50.0)]), None)
    assert single[["r", "f", "m"]].values.tolist() == [[3, 3, 3]]  # the middle, not the worst
