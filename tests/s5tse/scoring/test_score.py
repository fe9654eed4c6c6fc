"""Tests for s5tse.scoring.score: set scores, breakdowns, reports, the unprocessed row."""
import json
import math

import numpy as np
import pytest

from s5tse.corpus.dcase import DCASE2026
from s5tse.metrics.sdr import EPS
from s5tse.scoring.io import LoadedItem, items_from_folders
from s5tse.scoring.score import (
    headline,
    score_set,
    unprocessed_estimates,
    write_scores,
)

from .helpers import make_set, simple_spec

# disjoint supports (see tests/s5tse/metrics/test_capi.py): energies 100, 1, 25
N = 300
R1 = np.zeros(N, np.float32)
R1[:100] = 1.0
R2 = np.zeros(N, np.float32)
R2[100:164] = 0.125
R3 = np.zeros(N, np.float32)
R3[164:264] = 0.5
Y = R1 + R2 + R3


def db(num, den):
    return 10 * math.log10((num + EPS) / (den + EPS))


def hand_items():
    return [
        LoadedItem("m3", Y, [("Pour", R1), ("Pour", R2)], [("Pour", np.zeros(N, np.float32))]),
        LoadedItem("m0", Y, [], []),
        LoadedItem("m1", Y, [], [("Speech", R1)]),
        LoadedItem("m2", Y, [("Cough", R3)], [("Cough", R3)]),
    ]


V2 = db(25, 0) - db(25, 101)   # perfect Cough estimate
V3 = (0.0 - db(100, 26)) / 2    # zero estimate, tie -> first reference (r1), plus one FN


def test_score_set_hand_computed():
    res = score_set(hand_items())
    assert [it.name for it in res.items] == ["m0", "m1", "m2", "m3"]  # sorted
    assert [it.capi.value for it in res.items] == [None, 0.0, pytest.approx(V2), pytest.approx(V3)]
    assert res.capi_sdri == pytest.approx((0.0 + V2 + V3) / 3, abs=1e-9)
    assert res.acc_mix == 50.0  # m0 and m2 exact
    assert res.acc_src == 50.0  # tp 2 / (2 + 1 + 1)
    assert (res.tp, res.fp, res.fn, res.n_mixtures, res.n_scored) == (2, 1, 1, 4, 3)
    assert res.mean_sdr == pytest.approx(db(25, 0) / 2, abs=1e-9)  # pairs: Cough, Pour (0 dB)
    assert res.mean_sdri_tp == pytest.approx((V2 + (0.0 - db(100, 26))) / 2, abs=1e-9)
    # 2025: m0 -> 0 (counted), m1 -> 0, m2 -> V2, m3 -> set-based: Pour uses the LAST ref (r2)
    v3_2025 = 0.0 - db(1, 125)
    assert res.ca_sdri_2025 == pytest.approx((V2 + v3_2025) / 4, abs=1e-9)

    per_class = res.breakdown["per_class"]
    assert list(per_class) == ["Cough", "Pour", "Speech"]  # class-list order
    assert per_class["Speech"] == {"tp": 0, "fp": 1, "fn": 0, "capi_sdri": 0.0,
                                   "mean_sdr_tp": pytest.approx(float("nan"), nan_ok=True),
                                   "mean_sdri_tp": pytest.approx(float("nan"), nan_ok=True)}
    assert per_class["Pour"]["capi_sdri"] == pytest.approx(V3, abs=1e-9)
    assert (per_class["Pour"]["tp"], per_class["Pour"]["fn"]) == (1, 1)
    assert per_class["Cough"]["capi_sdri"] == pytest.approx(V2, abs=1e-9)

    by = res.breakdown["by_num_refs"]
    assert list(by) == ["0", "1", "2", "3"]
    assert by["0"]["n_mixtures"] == 2 and by["0"]["n_scored"] == 1
    assert by["0"]["capi_sdri"] == 0.0 and by["0"]["acc_mix"] == 50.0 and by["0"]["acc_src"] == 0.0
    assert by["1"]["capi_sdri"] == pytest.approx(V2) and by["1"]["acc_mix"] == 100.0
    assert by["2"]["capi_sdri"] == pytest.approx(V3) and by["2"]["acc_src"] == 50.0
    assert by["3"]["n_mixtures"] == 0 and math.isnan(by["3"]["capi_sdri"])
    dup = res.breakdown["duplicates"]
    assert dup["with_duplicates"]["n_mixtures"] == 1
    assert dup["with_duplicates"]["capi_sdri"] == pytest.approx(V3)
    assert dup["without_duplicates"]["n_mixtures"] == 3


def test_unprocessed_row_is_zero_with_input_sdr():
    items = hand_items()
    est = unprocessed_estimates(items[0])
    assert [label for label, _ in est] == ["Pour", "Pour"]
    assert all(w is Y for _, w in est)
    res = score_set(items, unprocessed=True)
    u = res.unprocessed
    assert u.capi_sdri == 0.0 and u.acc_mix == 100.0 and u.acc_src == 100.0
    assert u.n_scored == 2  # m0 and m1 have no reference: nothing predicted -> excluded
    # mean raw SDR = mean input SDR over the references r1, r2 (m3) and r3 (m2)
    assert u.mean_sdr == pytest.approx((db(100, 26) + db(1, 125) + db(25, 101)) / 3, abs=1e-9)
    assert res.mixture_sdr == u.mean_sdr
    plain = score_set(items)
    assert res.capi_sdri == plain.capi_sdri  # the system row is unchanged
    assert plain.mixture_sdr is None and plain.unprocessed is None


def numpy_mixture_sdr(items):
    """Mean over every reference of 10 log10((|r|^2 + eps) / (|r - y|^2 + eps)), y = mixture ch0."""
    values = []
    for it in items:
        y = np.asarray(it.mixture_ch0, np.float64)
        for _, r in it.refs:
            r = np.asarray(r, np.float64)
            values.append(10 * np.log10((np.sum(r ** 2) + EPS) / (np.sum((r - y) ** 2) + EPS)))
    return float(np.mean(values))


def test_mixture_sdr_random_signals():
    """Overlapping random sources, a same-class duplicate, a mixture without references."""
    rng = np.random.default_rng(3)
    n = 1000

    def src(scale):
        return (scale * rng.standard_normal(n)).astype(np.float32)

    items = []
    for name, refs in (("a", [("Speech", src(1.0)), ("Dishes", src(0.3))]),
                       ("b", [("Cough", src(0.5)), ("Cough", src(0.2)), ("Pour", src(2.0))]),
                       ("c", [])):
        y = sum((w for _, w in refs), src(0.05))
        items.append(LoadedItem(name, y, refs, [("Speech", src(0.1))]))
    res = score_set(items, unprocessed=True, classes=DCASE2026)
    expected = numpy_mixture_sdr(items)
    assert res.mixture_sdr == pytest.approx(expected, abs=1e-9)
    assert -20.0 < expected < 5.0  # the sources overlap: an informative, not a saturated value
    # the system's own scores do not depend on it
    assert res.capi_sdri == score_set(items, classes=DCASE2026).capi_sdri


def test_mixture_sdr_without_references_is_null(tmp_path):
    res = score_set([LoadedItem("m0", Y, [], [])], unprocessed=True)
    assert math.isnan(res.mixture_sdr)
    json_path, md_path = write_scores(res, tmp_path)
    assert json.loads(json_path.read_text())["mixture_sdr"] is None
    assert "Unprocessed mixture (channel 0): mean SDR - dB against the 0 reference source(s)." \
        in md_path.read_text()


def test_nj_2_equals_nj_1(tmp_path):
    items = items_from_folders(*make_set(tmp_path, simple_spec()), DCASE2026)
    one = score_set(items, nj=1, unprocessed=True)
    two = score_set(items, nj=2, unprocessed=True)
    assert one.items == two.items
    assert headline(one) == headline(two)
    assert json.dumps(one.breakdown) == json.dumps(two.breakdown)  # NaN != NaN in a dict
    assert one.unprocessed.items == two.unprocessed.items
    with pytest.raises(ValueError, match="nj"):
        score_set(items, nj=0)
    with pytest.raises(ValueError, match="no soundscapes"):
        score_set([])


def test_write_scores(tmp_path):
    res = score_set(hand_items(), unprocessed=True)
    extra = {"unprocessed mixture": headline(res.unprocessed),
             "oracle labels": {"capi_sdri": 1.25, "acc_mix": 100.0, "acc_src": 100.0}}
    json_path, md_path = write_scores(res, tmp_path / "out", extra_rows=extra)
    data = json.loads(json_path.read_text())
    for key in ("capi_sdri", "acc_mix", "acc_src", "n_mixtures", "per_mixture"):
        assert key in data
    assert data["capi_sdri"] == pytest.approx(res.capi_sdri)
    assert data["n_mixtures"] == 4
    assert list(data["per_mixture"]) == ["m0", "m1", "m2", "m3"]
    assert data["per_mixture"]["m0"] == {
        "est_labels": [], "ref_labels": [], "capi_sdri": None, "ca_sdri_2025": 0.0,
        "tp": 0, "fp": 0, "fn": 0, "pairs": []}
    assert data["per_mixture"]["m3"]["ref_labels"] == ["Pour", "Pour"]
    assert data["per_mixture"]["m3"]["pairs"][0]["ref"] == 0
    assert data["breakdown"]["by_num_refs"]["3"]["capi_sdri"] is None  # NaN -> null
    assert data["extra_rows"]["oracle labels"]["capi_sdri"] == 1.25
    expected = numpy_mixture_sdr(hand_items())
    assert data["mixture_sdr"] == pytest.approx(expected, abs=1e-9)
    assert f"Unprocessed mixture (channel 0): mean SDR {expected:.3f} dB against the 3 " \
        f"reference source(s)." in md_path.read_text()
    md = md_path.read_text()
    assert "| system | " in md and "| unprocessed mixture | 0.000 | 100.000 | 100.000 |" in md
    assert "| oracle labels | 1.250 | 100.000 | 100.000 | - | - |" in md
    assert "## Per class" in md and "| Pour | 1 | 0 | 1 |" in md
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["scores.json", "scores.md"]
    json_path, md_path = write_scores(score_set(hand_items()), tmp_path / "plain")
    assert "mixture_sdr" not in json.loads(json_path.read_text())  # not scored: no key
    assert "Unprocessed mixture" not in md_path.read_text()
