"""PIT tagger losses against brute force: all 6 permutations by hand with F.cross_entropy."""
import doctest
import itertools

import pytest
import torch
import torch.nn.functional as F

import s5tse.losses.pit_tagger as pit_module
from s5tse.corpus.dcase import DCASE2026

SILENCE_INDEX = DCASE2026.silence_index
from s5tse.losses import (TaggerPITLoss, baseline_pit_ce, reorder_slots, slot_permutations,
                          strong_class_targets)

B, S, T, C = 5, 3, 12, 19


def _inputs(seed=0, labels=None, activity=None, distinct=False):
    g = torch.Generator().manual_seed(seed)
    weak = torch.randn(B, S, C, generator=g) * 2
    strong = torch.randn(B, S, T, C, generator=g) * 2
    if labels is None and distinct:
        labels = torch.stack([torch.randperm(C, generator=g)[:S] for _ in range(B)])
    elif labels is None:
        labels = torch.randint(0, C, (B, S), generator=g)
    if activity is None:
        activity = (torch.rand(B, S, T, generator=g) > 0.5).float()
    return weak, strong, labels, activity


def _frame_targets(label, act):
    """Plain loops: class where active, silence elsewhere, silence slots all silence."""
    out = torch.full(act.shape, SILENCE_INDEX, dtype=torch.long)
    for j in range(act.shape[0]):
        for t in range(act.shape[1]):
            if label[j] != SILENCE_INDEX and act[j, t] > 0.5:
                out[j, t] = label[j]
    return out


def _brute_force(weak, strong, labels, activity, lam, smoothing=0.0):
    """Per item: cost of each of the 6 permutations, best cost and best permutation."""
    best_costs, best_perms, all_costs = [], [], []
    for b in range(weak.shape[0]):
        y_t = _frame_targets(labels[b], activity[b])
        costs = []
        for p in itertools.permutations(range(S)):
            total = 0.0
            for j in range(S):  # target slot j <-> prediction slot p[j]
                w = F.cross_entropy(weak[b, p[j]][None], labels[b, j][None],
                                    label_smoothing=smoothing)
                total = total + w
                if lam:
                    s = F.cross_entropy(strong[b, p[j]], y_t[j], label_smoothing=smoothing)
                    total = total + lam * s
            costs.append(total / S)
        costs = torch.stack(costs)
        k = int(costs.argmin())
        all_costs.append(costs)
        best_costs.append(costs[k])
        best_perms.append(list(itertools.permutations(range(S)))[k])
    return torch.stack(best_costs), torch.tensor(best_perms), torch.stack(all_costs)


@pytest.mark.parametrize("lam", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force(lam, seed):
    weak, strong, labels, activity = _inputs(seed, distinct=True)
    ref_cost, ref_perm, all_costs = _brute_force(weak, strong, labels, activity, lam)
    loss_fn = TaggerPITLoss(strong_weight=lam, reduction="none")
    loss, stats, perm = loss_fn(weak, labels, strong, activity)
    torch.testing.assert_close(loss, ref_cost, rtol=1e-5, atol=1e-5)
    # random logits: the minimum is unique, so the permutation must agree
    gaps = all_costs.sort(dim=1).values
    assert (gaps[:, 1] - gaps[:, 0] > 1e-4).all()
    assert torch.equal(perm, ref_perm)
    mean_loss, _, _ = TaggerPITLoss(strong_weight=lam)(weak, labels, strong, activity)
    torch.testing.assert_close(mean_loss, ref_cost.mean(), rtol=1e-5, atol=1e-5)
    assert set(stats) >= {"loss", "weak_ce", "slot_acc", "mix_acc"}
    assert ("strong_ce" in stats) == (lam > 0)


@pytest.mark.parametrize("lam", [0.0, 1.0])
def test_random_labels_with_duplicates_reach_the_minimum(lam):
    """Duplicated labels can tie exactly: the chosen permutation must cost the minimum."""
    weak, strong, labels, activity = _inputs(10)
    labels[:, 1] = labels[:, 0]
    ref_cost, _, all_costs = _brute_force(weak, strong, labels, activity, lam)
    loss, _, perm = TaggerPITLoss(strong_weight=lam, reduction="none")(
        weak, labels, strong, activity)
    torch.testing.assert_close(loss, ref_cost, rtol=1e-5, atol=1e-5)
    perms = [tuple(p) for p in itertools.permutations(range(S))]
    chosen = torch.stack([all_costs[b, perms.index(tuple(perm[b].tolist()))] for b in range(B)])
    torch.testing.assert_close(chosen, ref_cost, rtol=1e-5, atol=1e-5)


def test_label_smoothing_matches_cross_entropy():
    weak, strong, labels, activity = _inputs(3)
    ref_cost, ref_perm, _ = _brute_force(weak, strong, labels, activity, 1.0, smoothing=0.1)
    loss, _, perm = TaggerPITLoss(1.0, label_smoothing=0.1, reduction="none")(
        weak, labels, strong, activity)
    torch.testing.assert_close(loss, ref_cost, rtol=1e-5, atol=1e-5)
    assert torch.equal(perm, ref_perm)


def test_stats_are_the_chosen_permutation_terms():
    weak, strong, labels, activity = _inputs(4)
    lam = 0.7
    loss_fn = TaggerPITLoss(strong_weight=lam)
    loss, stats, perm = loss_fn(weak, labels, strong, activity)
    w = torch.stack([F.cross_entropy(reorder_slots(weak, perm)[b], labels[b])
                     for b in range(B)]).mean()
    torch.testing.assert_close(stats["weak_ce"], w)
    torch.testing.assert_close(stats["loss"], stats["weak_ce"] + lam * stats["strong_ce"])
    torch.testing.assert_close(stats["loss"], loss.detach())


def test_same_permutation_for_weak_and_strong():
    """Weak logits favour one assignment and strong logits another: the loss must use one
    joint permutation, not the best of each term separately."""
    labels = torch.tensor([[0, 1, 2]])
    act = torch.ones(1, S, T)
    weak = torch.full((1, S, C), -5.0)
    strong = torch.full((1, S, T, C), -5.0)
    # weak: pred slot i predicts class i (identity); strong: pred slot i predicts class (i+1)%3
    for i in range(S):
        weak[0, i, i] = 5.0
        strong[0, i, :, (i + 1) % S] = 5.0
    for lam, expect in [(0.1, [0, 1, 2]), (10.0, [2, 0, 1])]:
        _, _, perm = TaggerPITLoss(strong_weight=lam)(weak, labels, strong, act)
        assert perm[0].tolist() == expect
        ref_cost, ref_perm, _ = _brute_force(weak, strong, labels, act, lam)
        assert perm[0].tolist() == ref_perm[0].tolist()


def test_duplicates_resolved_by_strong_timing():
    # targets: two Cough (5) events at different times + silence
    labels = torch.tensor([[5, 5, SILENCE_INDEX]])
    act = torch.zeros(1, S, T)
    act[0, 0, :4] = 1
    act[0, 1, 8:] = 1
    # predictions: slot 0 silence, slot 1 = the late cough, slot 2 = the early cough
    weak = torch.full((1, S, C), -4.0)
    weak[0, 0, SILENCE_INDEX] = 4.0
    weak[0, 1, 5] = 4.0
    weak[0, 2, 5] = 4.0
    tracks = strong_class_targets(labels, act, SILENCE_INDEX)[0]              # [S, T]
    strong = torch.full((1, S, T, C), -4.0)
    for pred_slot, tgt_slot in [(0, 2), (1, 1), (2, 0)]:
        strong[0, pred_slot].scatter_(1, tracks[tgt_slot][:, None], 4.0)
    loss, stats, perm = TaggerPITLoss(strong_weight=1.0)(weak, labels, strong, act)
    assert perm[0].tolist() == [2, 1, 0]
    assert stats["slot_acc"] == 1.0 and stats["mix_acc"] == 1.0
    ref_cost, ref_perm, _ = _brute_force(weak, strong, labels, act, 1.0)
    assert perm[0].tolist() == ref_perm[0].tolist()
    torch.testing.assert_close(loss, ref_cost.mean())
    # weak only: both cough assignments tie -> first permutation in itertools order
    loss_w, perm_w = baseline_pit_ce(weak, labels)
    assert perm_w[0].tolist() == [1, 2, 0]
    ref_w, _, _ = _brute_force(weak, strong, labels, act, 0.0)
    torch.testing.assert_close(loss_w, ref_w.mean())


def test_zero_target_mixture_is_permutation_free():
    weak, strong, _, activity = _inputs(5)
    labels = torch.full((B, S), SILENCE_INDEX)
    loss, _, perm = TaggerPITLoss(strong_weight=1.0, reduction="none")(
        weak, labels, strong, activity)
    _, _, all_costs = _brute_force(weak, strong, labels, activity, 1.0)
    # every permutation costs the same; identity is returned
    torch.testing.assert_close(all_costs, all_costs[:, :1].expand_as(all_costs))
    assert torch.equal(perm, torch.arange(S).expand(B, S))
    torch.testing.assert_close(loss, all_costs[:, 0])
    # silence slots ignore activity: strong targets are all silence
    assert (strong_class_targets(labels, activity, SILENCE_INDEX) == SILENCE_INDEX).all()


def test_baseline_pit_ce_matches_brute_force():
    weak, strong, labels, activity = _inputs(6)
    loss, perm = baseline_pit_ce(weak, labels)
    ref_cost, ref_perm, _ = _brute_force(weak, strong, labels, activity, 0.0)
    torch.testing.assert_close(loss, ref_cost.mean())
    assert torch.equal(perm, ref_perm)
    same, _, perm2 = TaggerPITLoss(strong_weight=0.0)(weak, labels)
    torch.testing.assert_close(same, loss)
    assert torch.equal(perm2, perm)


def test_gradient_flows_through_chosen_permutation_only():
    weak, strong, labels, activity = _inputs(7)
    weak.requires_grad_(True)
    strong.requires_grad_(True)
    loss, _, perm = TaggerPITLoss(strong_weight=1.0)(weak, labels, strong, activity)
    loss.backward()
    assert torch.isfinite(weak.grad).all() and weak.grad.abs().sum() > 0
    assert torch.isfinite(strong.grad).all() and strong.grad.abs().sum() > 0


def test_frame_mask_excludes_padding():
    weak, strong, labels, activity = _inputs(8)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[:, 9:] = False
    loss_fn = TaggerPITLoss(strong_weight=1.0, reduction="none")
    masked, _, _ = loss_fn(weak, labels, strong, activity, frame_mask=mask)
    cropped, _, _ = loss_fn(weak, labels, strong[:, :, :9], activity[:, :, :9])
    torch.testing.assert_close(masked, cropped)


def test_strong_class_targets_and_helpers():
    labels = torch.tensor([[3, SILENCE_INDEX, 7]])
    act = torch.tensor([[[1, 0, 1], [1, 1, 1], [0, 0, 1]]], dtype=torch.float32)
    assert strong_class_targets(labels, act, SILENCE_INDEX).tolist() == [[[3, 18, 3], [18, 18, 18],
                                                           [18, 18, 7]]]
    assert strong_class_targets(labels, act.bool(), SILENCE_INDEX).tolist() == \
        strong_class_targets(labels, act, SILENCE_INDEX).tolist()
    assert slot_permutations(3).tolist()[0] == [0, 1, 2] and slot_permutations(3).shape == (6, 3)
    x = torch.arange(6).view(2, 3)
    assert reorder_slots(x, torch.tensor([[2, 0, 1], [0, 1, 2]])).tolist() == [[2, 0, 1],
                                                                             [3, 4, 5]]


def test_input_errors():
    weak, strong, labels, activity = _inputs(9)
    loss_fn = TaggerPITLoss(strong_weight=1.0)
    with pytest.raises(ValueError, match="needs strong_logits"):
        loss_fn(weak, labels)
    with pytest.raises(ValueError, match="frame grids differ"):
        loss_fn(weak, labels, strong, activity[:, :, :-1])
    with pytest.raises(ValueError, match=r"values must be in \[0, 18\]"):
        loss_fn(weak, torch.full((B, S), 19), strong, activity)
    with pytest.raises(ValueError, match="does not match"):
        baseline_pit_ce(weak, labels[:, :2])
    with pytest.raises(ValueError, match="integer class indices"):
        baseline_pit_ce(weak, labels.float())
    with pytest.raises(ValueError, match="weights must be"):
        TaggerPITLoss(strong_weight=-1.0)


def test_docstring_examples_run():
    result = doctest.testmod(pit_module, extraglobs={"torch": torch})
    assert result.attempted > 0 and result.failed == 0
