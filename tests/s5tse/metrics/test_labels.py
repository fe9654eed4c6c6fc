"""Tests for s5tse.metrics.labels (multiset label counts and accuracies)."""
import pytest

from s5tse.corpus.dcase import DCASE2026
from s5tse.metrics.capi import MixtureResult
from s5tse.metrics.labels import acc_mix, acc_src, label_counts


def test_duplicates_count_per_occurrence():
    assert label_counts(["Speech"], ["Speech", "Speech"]) == (1, 0, 1, False)
    assert label_counts(["Speech", "Speech"], ["Speech"]) == (1, 1, 0, False)
    assert label_counts(["Speech", "Speech", "Cough"], ["Speech", "Speech", "Pour"]) == (2, 1, 1, False)
    assert label_counts(["Speech", "Cough", "Speech"], ["Speech", "Speech", "Cough"]) == (3, 0, 0, True)


def test_silence_removed_and_empty():
    assert label_counts(["silence", "silence", "silence"], []) == (0, 0, 0, True)
    assert label_counts(["Dishes", "silence"], ["silence", "Dishes", "silence"]) == (1, 0, 0, True)
    assert label_counts([], ["Dishes"]) == (0, 0, 1, False)


def test_unknown_label():
    with pytest.raises(ValueError, match="unknown sound class 'Music'"):
        label_counts(["Music"], [], DCASE2026)
    assert label_counts(["Music"], ["Music", "Dog"]) == (1, 0, 1, False)  # any names without one


def test_accuracies_hand_computed():
    results = [
        label_counts(["Speech"], ["Speech", "Speech"]),      # tp 1, fn 1, not exact
        label_counts(["Cough", "Pour"], ["Pour", "Cough"]),  # tp 2, exact
        label_counts([], []),                                # zero-target, empty: exact
        label_counts(["Dishes"], ["Pour"]),                  # fp 1, fn 1
    ]
    assert acc_mix(results) == 50.0  # 2 of 4
    assert acc_src(results) == pytest.approx(100 * 3 / (3 + 1 + 2))  # 50.0
    # objects with tp/fp/fn attributes work too
    objs = [MixtureResult(None, 0, 0, 0), MixtureResult(0.0, 2, 0, 1)]
    assert acc_mix(objs) == 50.0
    assert acc_src(objs) == pytest.approx(200 / 3)


def test_zero_denominator_and_empty_set():
    # every mixture zero-target and predicted empty: Acc_src defined as 100
    assert acc_src([(0, 0, 0, True), (0, 0, 0, True)]) == 100.0
    assert acc_mix([(0, 0, 0, True)]) == 100.0
    with pytest.raises(ValueError, match="no mixtures"):
        acc_mix([])
    with pytest.raises(ValueError, match="no mixtures"):
        acc_src([])
