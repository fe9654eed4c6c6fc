"""Tests for s5tse.metrics.capi with hand-computed values.

Signals live on disjoint supports of T = 300 samples, so every energy is a hand sum:
r1 = 1 on S1 (100 samples, energy 100), r2 = 0.125 on S2 (64 samples, energy 1),
r3 = 0.5 on S3 (100 samples, energy 25); the mixture y = r1 + r2 + r3 + 0.25 on S4
(16 samples, energy 1). SDR(est, ref) = 10 log10((E_ref + eps) / (E_err + eps)).
"""
import math

import numpy as np
import pytest

from s5tse.corpus.dcase import DCASE2026
from s5tse.metrics.capi import (
    MixtureResult,
    aggregate_ca_sdri_2025,
    aggregate_capi,
    best_pairing,
    ca_sdri_2025,
    capi_sdri,
)
from s5tse.metrics.sdr import EPS

T = 300
S1, S2, S3, S4 = slice(0, 100), slice(100, 164), slice(164, 264), slice(264, 280)


def sig(**parts):
    x = np.zeros(T, dtype=np.float32)
    for name, value in parts.items():
        x[{"s1": S1, "s2": S2, "s3": S3, "s4": S4}[name]] = value
    return x


R1, R2, R3 = sig(s1=1.0), sig(s2=0.125), sig(s3=0.5)
NOISE = sig(s4=0.25)
Y = R1 + R2 + R3 + NOISE  # energies: 100 + 1 + 25 + 1


def db(num, den):
    return 10 * math.log10((num + EPS) / (den + EPS))


# input SDRs: the error of y against r is everything else in y
SDR_Y_R1 = db(100, 1 + 25 + 1)
SDR_Y_R2 = db(1, 100 + 25 + 1)
SDR_Y_R3 = db(25, 100 + 1 + 1)


def test_zero_target_predicted_empty_is_none():
    res = capi_sdri(Y, [], [])
    assert res.value is None and (res.tp, res.fp, res.fn) == (0, 0, 0) and res.pairs == []
    # silence slots are removed
    res = capi_sdri(Y, [("silence", np.zeros(T))], [("silence", np.zeros(T))])
    assert res.value is None
    assert aggregate_capi([None, 2.0, None, 4.0]) == 3.0  # None is excluded


def test_zero_target_predicted_nonempty_is_zero_and_counts():
    res = capi_sdri(Y, [("Speech", R1)], [])
    assert res.value == 0.0 and (res.tp, res.fp, res.fn) == (0, 1, 0)
    assert res.fp_entries == [("Speech", 0)]
    assert aggregate_capi([None, 0.0, 3.0]) == 1.5  # 0.0 is included
    assert math.isnan(aggregate_capi([None, None]))


def test_perfect_estimate_closed_form():
    res = capi_sdri(Y, [("Speech", R1)], [("Speech", R1)])
    sdr = db(100, 0)
    assert res.pairs == [("Speech", 0, 0, pytest.approx(sdr, abs=1e-9),
                          pytest.approx(sdr - SDR_Y_R1, abs=1e-9))]
    assert res.value == pytest.approx(sdr - SDR_Y_R1, abs=1e-9)
    assert res.exact


def test_wrong_class_is_one_fp_and_one_fn():
    res = capi_sdri(Y, [("Dishes", R1)], [("Speech", R1)])
    assert res.value == 0.0 and (res.tp, res.fp, res.fn) == (0, 1, 1)
    assert res.fp_entries == [("Dishes", 0)] and res.fn_entries == [("Speech", 0)]
    assert not res.exact
    # with one correct class: denominator 3 (1 TP + 1 FP + 1 FN)
    est_speech = R1 + sig(s1=0.0625)  # error 0.0625 on S1: energy 0.390625
    res = capi_sdri(Y, [("Speech", est_speech), ("Dishes", R3)], [("Speech", R1), ("Cough", R3)])
    assert (res.tp, res.fp, res.fn) == (1, 1, 1)
    assert res.value == pytest.approx((db(100, 0.390625) - SDR_Y_R1) / 3, abs=1e-9)


def test_same_class_duplicates_in_swapped_order():
    # estimate 0 is close to reference 1 and vice versa: the search picks the swap
    e0 = R3 + sig(s1=0.015625)  # error against r3: 2^-6 on S1 -> energy 100 * 2^-12
    e1 = R1 + sig(s3=0.0625)  # error against r1: 0.0625 on S3 -> energy 0.390625
    res = capi_sdri(Y, [("Cough", e0), ("Cough", e1)], [("Cough", R1), ("Cough", R3)])
    pairs = sorted(res.pairs, key=lambda p: p[1])
    assert [(p[1], p[2]) for p in pairs] == [(0, 1), (1, 0)]
    sdri_0 = db(25, 100 * 2.0 ** -12) - SDR_Y_R3
    sdri_1 = db(100, 0.390625) - SDR_Y_R1
    assert pairs[0][4] == pytest.approx(sdri_0, abs=1e-9)
    assert pairs[1][4] == pytest.approx(sdri_1, abs=1e-9)
    assert res.value == pytest.approx((sdri_0 + sdri_1) / 2, abs=1e-9)
    assert (res.tp, res.fp, res.fn) == (2, 0, 0)


def test_more_estimates_than_references():
    # three Speech estimates, one reference: the best one is matched, two are FP
    good = R2 + sig(s2=0.015625)        # error energy 64 * 2^-12 = 0.015625
    bad = sig(s2=0.0625)                # error energy 64 * 0.0625^2 = 0.25
    res = capi_sdri(Y, [("Speech", bad), ("Speech", good), ("Speech", np.zeros(T))],
                    [("Speech", R2)])
    assert [(p[1], p[2]) for p in res.pairs] == [(1, 0)]
    assert (res.tp, res.fp, res.fn) == (1, 2, 0)
    assert sorted(res.fp_entries) == [("Speech", 0), ("Speech", 2)]
    assert res.value == pytest.approx((db(1, 0.015625) - SDR_Y_R2) / 3, abs=1e-9)


def test_more_references_than_estimates_criterion_is_raw_sdr_not_sdri():
    # two Speech references r1 (loud) and r2 (quiet), one estimate e = r2 + 0.5 r1:
    #   SDR(e, r1) = db(100, 25 + 1) =  5.85 dB  > SDR(e, r2) = db(1, 25) = -13.98 dB
    #   SDRi(e, r1) = 5.85 - SDR(y, r1)  <  SDRi(e, r2) = -13.98 - SDR(y, r2)
    # the raw-SDR criterion takes r1 although r2 would give the larger SDRi.
    y = R1 + R2  # SDR(y, r1) = db(100, 1) = 20 dB, SDR(y, r2) = db(1, 100) = -20 dB
    e = R2 + 0.5 * R1
    res = capi_sdri(y, [("Speech", e)], [("Speech", R1), ("Speech", R2)])
    sdr_r1, sdr_r2 = db(100, 26), db(1, 25)
    sdri_r1, sdri_r2 = sdr_r1 - db(100, 1), sdr_r2 - db(1, 100)
    assert sdr_r1 > sdr_r2 and sdri_r1 < sdri_r2  # the construction
    assert [(p[1], p[2]) for p in res.pairs] == [(0, 0)]
    assert res.pairs[0][3] == pytest.approx(sdr_r1, abs=1e-9)
    assert res.pairs[0][4] == pytest.approx(sdri_r1, abs=1e-9)
    assert res.fn_entries == [("Speech", 1)]
    assert res.value == pytest.approx(sdri_r1 / 2, abs=1e-9)  # -14.15 / 2, not 6.02 / 2
    assert res.value == pytest.approx(-7.0740, abs=1e-3)


def test_all_zero_estimate_with_the_right_label():
    res = capi_sdri(Y, [("Pour", np.zeros(T, dtype=np.float32))], [("Pour", R2)])
    assert res.pairs[0][3] == 0.0
    assert res.value == pytest.approx(-SDR_Y_R2, abs=1e-9)  # +21.0 dB
    assert res.value > 0


def test_ties_go_to_the_first_pairing():
    # an all-zero estimate has SDR 0 against every reference: the first subset wins
    res = capi_sdri(Y, [("Pour", np.zeros(T))], [("Pour", R2), ("Pour", R1)])
    assert [(p[1], p[2]) for p in res.pairs] == [(0, 0)]
    assert res.value == pytest.approx(-SDR_Y_R2 / 2, abs=1e-9)


def test_best_pairing_enumeration():
    m = np.array([[1.0, 5.0, 0.0], [4.0, 1.0, 0.0]])  # [E=2, R=3]
    assert best_pairing(m) == ((1, 0), (0, 1))  # 4 + 5
    assert best_pairing(np.array([[3.0], [7.0], [1.0]])) == ((1,), (0,))
    with pytest.raises(ValueError):
        best_pairing(np.zeros((0, 2)))


def test_indices_refer_to_the_given_lists_and_silence_is_skipped():
    ests = [("silence", np.zeros(T)), ("Cough", R3), ("Speech", R1)]
    refs = [("Speech", R1), ("silence", np.zeros(T)), ("Cough", R3)]
    res = capi_sdri(Y, ests, refs)
    assert sorted((p[0], p[1], p[2]) for p in res.pairs) == [("Cough", 1, 2), ("Speech", 2, 0)]
    expected = (db(25, 0) - SDR_Y_R3 + db(100, 0) - SDR_Y_R1) / 2
    assert res.value == pytest.approx(expected, abs=1e-9)


def test_input_errors():
    with pytest.raises(ValueError, match="unknown sound class 'speech'"):
        capi_sdri(Y, [("speech", R1)], [], DCASE2026)
    with pytest.raises(ValueError, match="label must be a non-empty string"):
        capi_sdri(Y, [("", R1)], [])
    with pytest.raises(ValueError, match="expected \\(300,\\)"):
        capi_sdri(Y, [("Speech", R1[:-1])], [("Speech", R1)])
    with pytest.raises(ValueError, match="mixture_ch0"):
        capi_sdri(np.zeros((2, T)), [], [])


def test_ca_sdri_2025_small_case():
    est_speech = R1 + sig(s1=0.0625)  # error energy 0.390625
    ests = [("Speech", est_speech), ("Dishes", R3)]
    refs = [("Speech", R1), ("Cough", R3)]
    value = ca_sdri_2025(Y, ests, refs)  # TP {Speech}, FP {Dishes}, FN {Cough}
    assert value == pytest.approx((db(100, 0.390625) - SDR_Y_R1) / 3, abs=1e-9)
    # equal to CAPI-SDRi when labels are unique
    assert value == pytest.approx(capi_sdri(Y, ests, refs).value, abs=1e-12)
    # set-based: a duplicated label counts once and its LAST waveform is used
    dup = ca_sdri_2025(Y, [("Cough", np.zeros(T)), ("Cough", R3)], [("Cough", R3)])
    assert dup == pytest.approx(db(25, 0) - SDR_Y_R3, abs=1e-9)
    # no TP/FP/FN (zero-target, predicted empty): 0.0 by our definition, counted in the mean
    assert ca_sdri_2025(Y, [], []) == 0.0
    assert aggregate_ca_sdri_2025([0.0, 3.0, 6.0]) == 3.0
    assert aggregate_ca_sdri_2025([2.0]) == 2.0


def test_mixture_result_defaults():
    r = MixtureResult(value=None, tp=0, fp=0, fn=0)
    assert r.pairs == [] and r.exact


def _naive_capi(y, ests, refs):
    """Straight from the definition: per class, every subset x permutation, direct snr_db."""
    from itertools import combinations, permutations

    from s5tse.metrics.sdr import snr_db

    classes = {lb for lb, _ in ests + refs}
    if not classes:
        return None
    values = []
    for c in classes:
        e = [w for lb, w in ests if lb == c]
        r = [w for lb, w in refs if lb == c]
        if not e or not r:
            values += [0.0] * max(len(e), len(r))
            continue
        t = min(len(e), len(r))
        best = None
        for rs in combinations(range(len(r)), t):
            for es in permutations(range(len(e)), t):
                mean_sdr = np.mean([float(snr_db(e[i], r[j])) for i, j in zip(es, rs)])
                if best is None or mean_sdr > best[0]:
                    best = (mean_sdr, [float(snr_db(e[i], r[j])) - float(snr_db(y, r[j]))
                                       for i, j in zip(es, rs)])
        values += best[1] + [0.0] * abs(len(e) - len(r))
    return float(np.mean(values))


def test_random_cases_agree_with_a_naive_implementation():
    from s5tse.metrics.capi import score_mixture

    rng = np.random.default_rng(3)
    pool = ["Speech", "Cough", "Pour"]
    for _ in range(60):
        n = 400
        refs = [(str(rng.choice(pool)), rng.standard_normal(n).astype(np.float32))
                for _ in range(rng.integers(0, 4))]
        y = sum((w for _, w in refs), 0.3 * rng.standard_normal(n)).astype(np.float32)
        ests = []
        for _ in range(rng.integers(0, 5)):
            if refs and rng.random() < 0.7:
                label, w = refs[rng.integers(len(refs))]
                ests.append((label, (w + rng.uniform(0.1, 2) * rng.standard_normal(n)).astype(np.float32)))
            else:
                ests.append((str(rng.choice(pool)), rng.standard_normal(n).astype(np.float32)))
        res, ca = score_mixture(y, ests, refs)
        expected = _naive_capi(y, ests, refs)
        if expected is None:
            assert res.value is None
        else:
            assert res.value == pytest.approx(expected, abs=1e-9)
        assert res.value == capi_sdri(y, ests, refs).value
        assert ca == ca_sdri_2025(y, ests, refs)
        if len({lb for lb, _ in ests}) == len(ests) and len({lb for lb, _ in refs}) == len(refs) \
                and refs:
            assert ca == pytest.approx(res.value, abs=1e-9)  # unique labels: 2025 == 2026
