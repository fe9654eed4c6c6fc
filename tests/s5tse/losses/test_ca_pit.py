"""Tests for s5tse.losses.ca_pit (class-aware PIT vs brute force, silent slots, objectives, aux)."""
import doctest
import itertools
import math

import pytest
import torch

import s5tse.losses.ca_pit as ca_pit_mod
from s5tse.losses.ca_pit import (
    AUX_SCHEDULES,
    ClassAwarePITLoss,
    aux_weights,
    class_aware_pairs,
)
from s5tse.losses.pit_tagger import reorder_slots
from s5tse.losses.sdr import EPS, neg_si_sdr, neg_snr

SIL = 18
A, B, C = 4, 9, 15


def _weak(labels):
    """[B, K] indices -> [B, K, 18] one-hot (silence = zero row)."""
    idx = torch.as_tensor(labels)
    out = torch.zeros(*idx.shape, 18)
    for b in range(idx.shape[0]):
        for k in range(idx.shape[1]):
            if int(idx[b, k]) != SIL:
                out[b, k, int(idx[b, k])] = 1.0
    return out


def _pair(objective, est, ref, weights=None):
    if objective == "snr":
        return neg_snr(est, ref)
    if objective == "si_sdr":
        return neg_si_sdr(est, ref)
    w = weights or {"snr": 1.0, "si_sdr": 0.1}
    return w.get("snr", 0.0) * neg_snr(est, ref) + w.get("si_sdr", 0.0) * neg_si_sdr(est, ref)


def _brute_force(objective, est, ref, labels, silent_weight=0.0):
    """Per item: enumerate the permutations allowed by the labels, pick the first minimum."""
    Bn, K, _ = est.shape
    losses, perms = [], []
    for b in range(Bn):
        best, best_p = math.inf, None
        for p in itertools.permutations(range(K)):
            ok, total = True, 0.0
            for i, j in enumerate(p):
                li, lj = int(labels[b, i]), int(labels[b, j])
                if li == SIL:
                    if j != i:
                        ok = False
                        break
                    if silent_weight:
                        energy = float(est[b, i].double().pow(2).sum())
                        total += silent_weight * 10 * math.log10(1 + energy / EPS)
                    continue
                if lj != li:
                    ok = False
                    break
                total += float(_pair(objective, est[b, j], ref[b, i]))
            if ok and total < best - 1e-9:
                best, best_p = total, p
        losses.append(best / K)
        perms.append(list(best_p))
    return sum(losses) / Bn, perms


@pytest.mark.parametrize("objective", ["snr", "si_sdr", "sum"])
def test_matches_brute_force_over_allowed_permutations(objective):
    g = torch.Generator().manual_seed(0)
    label_sets = [[A, A, B], [A, A, A], [A, B, C], [A, SIL, SIL],
                  [SIL, SIL, SIL], [B, SIL, B], [A, B, A], [C, C, SIL]]
    labels = torch.tensor(label_sets)
    ref = torch.randn(len(label_sets), 3, 400, generator=g, dtype=torch.float64)
    ref[labels == SIL] = 0.0
    # each estimate slot holds (noisy) another slot's reference, so that swaps matter
    shuffles = [[1, 0, 2], [2, 0, 1], [2, 1, 0], [0, 2, 1], [1, 2, 0], [2, 1, 0], [2, 0, 1], [1, 0, 2]]
    est = torch.stack([ref[b, s] for b, s in enumerate(shuffles)])
    est = est + 0.7 * torch.randn(est.shape, generator=g, dtype=torch.float64)
    loss, stats, perm = ClassAwarePITLoss(objective, silence_index=18)(est, ref, labels)
    ref_loss, ref_perms = _brute_force(objective, est, ref, labels)
    assert sum(p != [0, 1, 2] for p in ref_perms) >= 4  # the search is exercised
    assert float(loss) == pytest.approx(ref_loss, abs=1e-9)
    assert perm.tolist() == ref_perms
    assert perm.dtype == torch.int64 and perm.shape == (len(label_sets), 3)


def test_swapped_same_label_estimates_are_swapped_back():
    g = torch.Generator().manual_seed(1)
    ref = torch.randn(1, 3, 800, generator=g)
    labels = torch.tensor([[A, A, B]])
    good = ref + 0.05 * torch.randn(1, 3, 800, generator=g)
    swapped = good[:, [1, 0, 2]]
    loss_fn = ClassAwarePITLoss("snr", silence_index=18)
    loss_good, _, perm_good = loss_fn(good, ref, labels)
    loss_sw, stats, perm_sw = loss_fn(swapped, ref, labels)
    assert perm_good.tolist() == [[0, 1, 2]]
    assert perm_sw.tolist() == [[1, 0, 2]]
    assert float(loss_sw) == pytest.approx(float(loss_good), abs=1e-5)
    assert torch.equal(reorder_slots(swapped, perm_sw), good)
    assert float(stats["snr"]) > 20.0


def test_different_labels_never_swap():
    g = torch.Generator().manual_seed(2)
    ref = torch.randn(2, 3, 800, generator=g)
    labels = torch.tensor([[A, B, C], [A, A, B]])
    est = ref[:, [2, 0, 1]].clone()  # every slot holds another slot's source
    est[1] = ref[1, [2, 1, 0]]       # item 1: slot 0 (A) <-> slot 2 (B): labels differ
    loss, _, perm = ClassAwarePITLoss("snr", silence_index=18)(est, ref, labels)
    assert perm.tolist() == [[0, 1, 2], [0, 1, 2]]
    expected = neg_snr(est, ref).mean()
    assert float(loss) == pytest.approx(float(expected), abs=1e-5)


def test_silent_slots_stay_fixed_and_contribute_zero_by_default():
    g = torch.Generator().manual_seed(3)
    ref = torch.randn(2, 3, 500, generator=g)
    labels = torch.tensor([[A, SIL, A], [SIL, SIL, B]])
    ref[labels == SIL] = 0.0
    est = ref[:, [2, 1, 0]].clone()
    est[1] = torch.randn(3, 500, generator=g)  # loud outputs in both silent slots
    loss, _, perm = ClassAwarePITLoss("snr", silence_index=18)(est, ref, labels)
    assert perm.tolist() == [[2, 1, 0], [0, 1, 2]]
    item0 = (neg_snr(est[0, 2], ref[0, 0]) + neg_snr(est[0, 0], ref[0, 2])) / 3
    item1 = neg_snr(est[1, 2], ref[1, 2]) / 3
    assert float(loss) == pytest.approx(float((item0 + item1) / 2), abs=1e-5)


def test_silent_weight_adds_energy_term():
    g = torch.Generator().manual_seed(4)
    ref = torch.randn(1, 3, 500, generator=g, dtype=torch.float64)
    labels = torch.tensor([[A, SIL, SIL]])
    ref[0, 1:] = 0.0
    est = ref.clone()
    est[0, 1] = 0.01  # energy 0.05
    est[0, 2] = 0.0   # exactly silent: no penalty
    loss, _, perm = ClassAwarePITLoss("snr", silent_weight=0.5, silence_index=18)(est, ref, labels)
    expected = (float(neg_snr(est[0, 0], ref[0, 0])) + 0.5 * 10 * math.log10(1 + 0.05 / EPS)) / 3
    assert float(loss) == pytest.approx(expected, abs=1e-9)
    ref_loss, ref_perms = _brute_force("snr", est, ref, labels, silent_weight=0.5)
    assert float(loss) == pytest.approx(ref_loss, abs=1e-9) and perm.tolist() == ref_perms


def test_sum_objective_is_weighted_sum():
    g = torch.Generator().manual_seed(5)
    ref = torch.randn(3, 3, 600, generator=g, dtype=torch.float64)
    est = ref + 0.3 * torch.randn(3, 3, 600, generator=g, dtype=torch.float64)
    labels = torch.tensor([[A, B, C], [B, A, C], [C, SIL, SIL]])
    ref[labels == SIL] = 0.0
    w = {"snr": 0.7, "si_sdr": 0.2}
    l_sum, stats, _ = ClassAwarePITLoss("sum", weights=w, silence_index=18)(est, ref, labels)
    l_snr, _, _ = ClassAwarePITLoss("snr", silence_index=18)(est, ref, labels)
    l_si, _, _ = ClassAwarePITLoss("si_sdr", silence_index=18)(est, ref, labels)
    assert float(l_sum) == pytest.approx(0.7 * float(l_snr) + 0.2 * float(l_si), abs=1e-9)
    assert {"loss", "snr", "si_sdr"} <= set(stats)
    pw = ClassAwarePITLoss("sum", weights=w, silence_index=18).pairwise(est, ref)
    pw_snr = ClassAwarePITLoss("snr", silence_index=18).pairwise(est, ref)
    pw_si = ClassAwarePITLoss("si_sdr", silence_index=18).pairwise(est, ref)
    assert torch.allclose(pw, 0.7 * pw_snr + 0.2 * pw_si)
    # default weights: -SNR - 0.1 SI-SDR
    l_def, _, _ = ClassAwarePITLoss("sum", silence_index=18)(est, ref, labels)
    assert float(l_def) == pytest.approx(float(l_snr) + 0.1 * float(l_si), abs=1e-9)


def test_label_vectors_equal_integer_labels_and_slot_reduction():
    g = torch.Generator().manual_seed(6)
    labels = torch.tensor([[A, A, SIL], [B, C, B]])
    ref = torch.randn(2, 3, 300, generator=g)
    ref[labels == SIL] = 0.0
    est = torch.randn(2, 3, 300, generator=g)
    l_idx, _, p_idx = ClassAwarePITLoss(silence_index=18)(est, ref, labels)
    l_vec, _, p_vec = ClassAwarePITLoss(silence_index=18)(est, ref, _weak(labels))
    assert torch.equal(p_idx, p_vec) and float(l_idx) == pytest.approx(float(l_vec), abs=1e-6)
    l_act, _, _ = ClassAwarePITLoss(slot_reduction="active", silence_index=18)(est, ref, labels)
    slot = reorder_slots(est, p_idx)
    per = torch.where(labels != SIL, neg_snr(slot, ref), torch.zeros(()))
    expected = ((per[0].sum() / 2) + (per[1].sum() / 3)) / 2
    assert float(l_act) == pytest.approx(float(expected), abs=1e-5)


def test_gradient_reaches_only_allowed_pairs():
    g = torch.Generator().manual_seed(7)
    labels = torch.tensor([[A, A, SIL]])
    ref = torch.randn(1, 3, 200, generator=g)
    ref[0, 2] = 0.0
    est = torch.randn(1, 3, 200, generator=g, requires_grad=True)
    loss, _, _ = ClassAwarePITLoss(silence_index=18)(est, ref, labels)
    loss.backward()
    assert torch.isfinite(est.grad).all()
    assert est.grad[0, :2].abs().sum() > 0
    assert torch.equal(est.grad[0, 2], torch.zeros(200))  # silent slot excluded


def test_class_aware_pairs(silence_index=18):
    active, allowed = class_aware_pairs(torch.tensor([[A, SIL, A], [SIL, SIL, SIL]]), silence_index=18)
    assert active.tolist() == [[True, False, True], [False, False, False]]
    assert allowed[0].int().tolist() == [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    assert allowed[1].int().tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]  # silences never swap
    active_v, allowed_v = class_aware_pairs(_weak([[A, SIL, A], [SIL, SIL, SIL]]), silence_index=18)
    assert torch.equal(active, active_v) and torch.equal(allowed, allowed_v)
    with pytest.raises(ValueError):
        class_aware_pairs(torch.zeros(2, 3), silence_index=18)  # float [B, K]


def test_all_silent_batch_gives_zero_loss_and_no_snr():
    est, ref = torch.zeros(2, 3, 100), torch.zeros(2, 3, 100)
    loss, stats, perm = ClassAwarePITLoss(silence_index=18)(est, ref, torch.full((2, 3), SIL))
    assert float(loss) == 0.0 and stats["snr"] is None
    assert perm.tolist() == [[0, 1, 2]] * 2


def test_aux_outputs_use_main_permutation_and_weights():
    g = torch.Generator().manual_seed(8)
    labels = torch.tensor([[A, A, B]])
    ref = torch.randn(1, 3, 400, generator=g, dtype=torch.float64)
    est = ref[:, [1, 0, 2]] + 0.1 * torch.randn(1, 3, 400, generator=g, dtype=torch.float64)
    aux = est[:, [1, 0, 2]]  # the aux output holds the sources in the other order
    loss_fn = ClassAwarePITLoss(silence_index=18)
    main, _, perm = loss_fn(est, ref, labels)
    total, stats, perm2 = loss_fn(est, ref, labels, aux=[est, aux], aux_weights=[0.3, 0.2])
    assert torch.equal(perm, perm2)
    aux_fixed = (neg_snr(reorder_slots(aux, perm), ref)).mean()  # scored with the main perm
    expected = float(main) * 1.3 + 0.2 * float(aux_fixed)
    assert float(total) == pytest.approx(expected, abs=1e-9)
    assert float(stats["loss_main"]) == pytest.approx(float(main), abs=1e-12)
    assert float(stats["loss_aux"]) == pytest.approx(expected - float(main), abs=1e-9)
    # own permutation per aux output: the swapped aux output costs as much as est
    total_pit, _, _ = ClassAwarePITLoss(aux_pit=True, silence_index=18)(est, ref, labels, aux=[aux], aux_weights=[1.0])
    assert float(total_pit) == pytest.approx(2 * float(main), abs=1e-9)
    with pytest.raises(ValueError, match="weights"):
        loss_fn(est, ref, labels, aux=[est], aux_weights=[0.1, 0.2])


def test_aux_schedule_helper_and_epoch():
    assert aux_weights(1, 2) == [0.25, 0.25]
    assert aux_weights(100, 1) == [0.5]
    assert aux_weights(101, 1)[0] == pytest.approx(0.5 * 0.95)
    assert aux_weights(110, 1)[0] == pytest.approx(0.5 * 0.95**10)
    sep = AUX_SCHEDULES["sepreformer"]
    assert [aux_weights(e, 1, **sep)[0] for e in (100, 101, 105, 106, 110, 111)] == pytest.approx(
        [0.4, 0.4 * 0.8, 0.4 * 0.8, 0.4 * 0.8**2, 0.4 * 0.8**2, 0.4 * 0.8**3])
    assert aux_weights(5, 0) == []
    g = torch.Generator().manual_seed(9)
    ref = torch.randn(1, 3, 200, generator=g, dtype=torch.float64)
    est = ref + 0.5 * torch.randn(1, 3, 200, generator=g, dtype=torch.float64)
    labels = torch.tensor([[A, B, C]])
    loss_fn = ClassAwarePITLoss(silence_index=18)
    main, _, _ = loss_fn(est, ref, labels)
    loss_fn.set_epoch(102)
    total, _, _ = loss_fn(est, ref, labels, aux=[est, est])
    assert float(total) == pytest.approx(float(main) * (1 + 0.5 * 0.95**2), abs=1e-9)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="objective"):
        ClassAwarePITLoss("l1", silence_index=18)
    with pytest.raises(ValueError, match="only used"):
        ClassAwarePITLoss("snr", weights={"snr": 1.0}, silence_index=18)
    with pytest.raises(ValueError, match="keys"):
        ClassAwarePITLoss("sum", weights={"sdr": 1.0}, silence_index=18)
    with pytest.raises(ValueError, match="aux_schedule"):
        ClassAwarePITLoss(aux_schedule="cosine", silence_index=18)
    loss_fn = ClassAwarePITLoss(silence_index=18)
    with pytest.raises(ValueError, match="one shape"):
        loss_fn(torch.zeros(1, 3, 10), torch.zeros(1, 3, 11), torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="labels"):
        loss_fn(torch.zeros(1, 3, 10), torch.zeros(1, 3, 10), torch.zeros(1, 2, dtype=torch.long))


def test_docstring_examples():
    failures, _ = doctest.testmod(ca_pit_mod, verbose=False)
    assert failures == 0
