"""Tests of the soft-query bridge (s5tse.bridge) with hand-made probabilities."""
import pytest
import torch

from s5tse.bridge import Bridge, BridgeOutput, oracle_queries, query_grid, resample_frames
from s5tse.datasets.targets import frame_activity, num_frames_for
from s5tse.corpus.dcase import DCASE2026
from s5tse.corpus.dcase import DCASE2026_CLASSES as TARGET_CLASSES
from s5tse.labels import SILENCE, ClassInventory

SILENCE_INDEX = DCASE2026.silence_index

IDX = {name: i for i, name in enumerate(TARGET_CLASSES)}


def slot(label=None, p_label=0.0, p_sil=1.0):
    """A 19-way distribution: ``p_label`` on ``label``, ``p_sil`` on silence, the rest spread
    evenly over the other 17 classes."""
    p = torch.zeros(19)
    rest = 1.0 - p_label - p_sil
    others = [i for i in range(18) if label is None or i != IDX[label]]
    p[others] = rest / len(others)
    if label is not None:
        p[IDX[label]] = p_label
    p[SILENCE_INDEX] = p_sil
    return p


def weak(*slots):
    return torch.stack(slots)


def frames(hop_s, n):
    t = torch.arange(n, dtype=torch.float64) * hop_s
    return torch.stack([t, t + hop_s], dim=1)


N = 32000  # 1 s -> 25 query frames


def test_masks_labels_and_report_subset_of_query():
    w = weak(slot("Speech", 0.85, 0.05), slot("Dishes", 0.4, 0.45), slot("Pour", 0.1, 0.85))
    out = Bridge(report_threshold=0.6, query_threshold=0.5, classes=DCASE2026)(w, None, None, N)
    # confidences 0.95, 0.55, 0.15: slot 0 reported, slot 1 queried only, slot 2 silent
    assert out.labels == ["Speech", "Dishes", SILENCE]
    assert out.query.tolist() == [True, True, False]
    assert out.report.tolist() == [True, False, False]
    assert torch.allclose(out.confidence, torch.tensor([0.95, 0.55, 0.15]))
    assert torch.allclose(out.probability, torch.tensor([0.85, 0.4, 0.0]))
    assert out.reported_labels == ["Speech"]
    assert out.text_labels() == ["Speech", SILENCE, SILENCE]
    expect_weak = torch.zeros(3, 18)
    expect_weak[0, IDX["Speech"]] = 1
    expect_weak[1, IDX["Dishes"]] = 1
    assert torch.equal(out.weak, expect_weak)
    assert out.strong.shape == (3, 25)
    assert torch.equal(out.strong[2], torch.zeros(25))
    assert out.class_index.tolist() == [IDX["Speech"], IDX["Dishes"], SILENCE_INDEX]


def test_label_is_argmax_over_classes_even_when_silence_is_largest():
    # conf 0.45 >= tau_q 0.4 although silence (0.55) is the largest single output
    w = weak(slot("Cough", 0.3, 0.55))
    out = Bridge(0.5, 0.4, classes=DCASE2026)(w, None, None, N)
    assert out.labels == ["Cough"] and out.query.tolist() == [True]
    assert out.report.tolist() == [False]


def test_duplicate_labels_are_kept():
    w = weak(slot("Speech", 0.9, 0.05), slot("Speech", 0.7, 0.2), slot("Speech", 0.1, 0.85))
    out = Bridge(0.5, 0.5, classes=DCASE2026)(w, None, None, N)
    assert out.reported_labels == ["Speech", "Speech"]
    assert out.weak[:2, IDX["Speech"]].tolist() == [1.0, 1.0]


def test_zero_target_mixture_queries_nothing():
    w = weak(slot(None, 0.0, 0.97), slot(None, 0.0, 0.99), slot(None, 0.0, 0.9))
    strong = torch.rand(3, 25, 19)
    out = Bridge(0.5, 0.3, classes=DCASE2026)(w, strong, frames(0.04, 25), N)
    assert out.labels == [SILENCE] * 3
    assert not out.query.any() and not out.report.any() and not out.any_query
    assert torch.equal(out.strong, torch.zeros(3, 25))
    assert torch.equal(out.weak, torch.zeros(3, 18))
    assert out.reported_labels == []
    empty = BridgeOutput.empty(3, 25, 18)
    assert empty.labels == [SILENCE] * 3 and not empty.query.any()


def test_query_threshold_above_report_threshold_is_an_error():
    with pytest.raises(ValueError, match="query_threshold .* must not exceed report_threshold"):
        Bridge(report_threshold=0.4, query_threshold=0.5, classes=DCASE2026)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="report_threshold must be a number in"):
            Bridge(report_threshold=bad, query_threshold=0.0, classes=DCASE2026)
    with pytest.raises(ValueError, match="frame_threshold"):
        Bridge(0.5, 0.5, frame_threshold=2.0, classes=DCASE2026)


def test_queried_slots_first_by_confidence():
    w = weak(slot("Pour", 0.3, 0.6), slot(None, 0.0, 0.95), slot("Buzzer", 0.8, 0.1))
    out = Bridge(0.3, 0.3, classes=DCASE2026)(w, None, None, N)
    assert out.labels == ["Buzzer", "Pour", SILENCE]
    assert out.slot_order == [2, 0, 1]


def test_strong_query_identical_grid_is_copied():
    # the fusion tagger's 40-ms grid is the query grid: values pass through unchanged
    T = 25
    strong = torch.rand(3, T, 19)
    w = weak(slot("Speech", 0.9, 0.05), slot("Dishes", 0.9, 0.05), slot("Pour", 0.9, 0.05))
    out = Bridge(0.5, 0.5, classes=DCASE2026)(w, strong, frames(0.04, T), N)
    for k, lab in enumerate(["Speech", "Dishes", "Pour"]):
        assert torch.allclose(out.strong[k], strong[k, :, IDX[lab]])


def test_strong_query_coarse_grid_hand_computed():
    # 160-ms tagger frames (M2D columns): each 40-ms query frame lies in one column
    vals = torch.tensor([0.1, 0.5, 0.9, 0.3, 0.7, 0.2, 0.4])          # 7 columns = 1.12 s
    strong = torch.zeros(1, 7, 19)
    strong[0, :, IDX["Cough"]] = vals
    out = Bridge(0.5, 0.5, classes=DCASE2026)(weak(slot("Cough", 0.9, 0.05)), strong, frames(0.16, 7), N)
    expected = vals.repeat_interleave(4)[:25]
    assert torch.allclose(out.strong[0], expected)


def test_strong_query_misaligned_grid_hand_computed():
    # 60-ms tagger frames p0..p2 over 0.18 s; 40-ms query frames over 3000 samples (3 frames):
    # q0 = [0, .04) in t0 -> p0; q1 = [.04, .08): 0.02 s of t0 and of t1 -> (p0 + p1) / 2;
    # q2 = [.08, .09375) in t1 -> p1
    p = torch.tensor([0.2, 0.6, 1.0])
    strong = torch.zeros(1, 3, 19)
    strong[0, :, IDX["Typing"]] = p
    out = Bridge(0.5, 0.5, classes=DCASE2026)(weak(slot("Typing", 0.9, 0.05)), strong, frames(0.06, 3), 3000)
    assert out.strong.shape == (1, 3)
    assert torch.allclose(out.strong[0], torch.tensor([0.2, 0.4, 0.6]))


def test_strong_query_beyond_tagger_frames_takes_nearest():
    vals = torch.tensor([[0.3, 0.8]])                                  # covers [0, 0.08)
    got = resample_frames(vals, frames(0.04, 2), query_grid(4000))   # 4 frames to 0.125 s
    assert torch.allclose(got, torch.tensor([[0.3, 0.8, 0.8, 0.8]], dtype=got.dtype))


def test_frame_threshold_binarises():
    strong = torch.zeros(1, 25, 19)
    strong[0, :, IDX["Speech"]] = torch.linspace(0, 1, 25)
    out = Bridge(0.5, 0.5, frame_threshold=0.5, classes=DCASE2026)(weak(slot("Speech", 0.9, 0.05)), strong,
                                                frames(0.04, 25), N)
    assert torch.equal(out.strong[0], (torch.linspace(0, 1, 25) >= 0.5).float())


def test_tagger_without_strong_output_gets_all_ones():
    w = weak(slot("Speech", 0.9, 0.05), slot(None, 0.0, 0.9), slot("Pour", 0.5, 0.3))
    out = Bridge(0.6, 0.6, classes=DCASE2026)(w, None, None, 40000)                        # 32 query frames
    assert out.strong.shape == (3, 32)
    assert torch.equal(out.strong, torch.tensor([[1.0] * 32, [1.0] * 32, [0.0] * 32]))


def test_m2dat_tagger_output_through_from_tagger_output():
    from s5tse.models.tagger.m2dat import M2DATTagger

    torch.manual_seed(0)
    tagger = M2DATTagger.from_preset("tiny", num_classes=19).eval()
    x = torch.randn(1, 4, 8000) * 0.1
    pred = tagger.predict(x)
    out = Bridge(0.0, 0.0, classes=DCASE2026).from_tagger_output(pred, 0, 8000, has_strong=False)
    assert out.query.all()                                               # tau_q = 0: every slot
    assert torch.equal(out.strong, torch.ones(3, num_frames_for(8000, 1280)))
    expect = (1 - pred.weak_prob[0, :, SILENCE_INDEX]).sort(descending=True).values
    assert torch.allclose(out.confidence, expect)


def test_query_grid_matches_the_dataset_frames():
    for n in (1, 1279, 1280, 1281, 320000, 320001):
        grid = query_grid(n)
        assert grid.shape == (num_frames_for(n, 1280), 2)
        # a sample span [a, b) is active in exactly the query frames frame_activity marks
        a, b = n // 3, max(n // 3 + 1, (2 * n) // 3)
        act = frame_activity([[a, b]], n, 1280)[0]
        inside = (grid[:, 0] * 32000 < b) & (grid[:, 1] * 32000 > a)
        assert torch.equal(inside, act.bool())
    assert torch.allclose(query_grid(3000)[-1], torch.tensor([2560 / 32000, 3000 / 32000],
                                                             dtype=torch.float64))


def test_oracle_queries():
    act = torch.tensor([[0.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    out = oracle_queries(["Speech", SILENCE, "Speech"], act, DCASE2026)
    assert out.labels == ["Speech", "Speech", SILENCE]
    assert out.reported_labels == ["Speech", "Speech"]
    assert out.report.tolist() == out.query.tolist() == [True, True, False]
    assert out.probability.tolist() == [1.0, 1.0, 0.0]
    assert torch.equal(out.strong, torch.stack([act[0], act[2], torch.zeros(3)]))
    assert out.weak[:, IDX["Speech"]].tolist() == [1.0, 1.0, 0.0] and out.weak.sum() == 2
    with pytest.raises(ValueError, match="unknown sound class"):
        oracle_queries(["speech"], torch.zeros(1, 3), DCASE2026)


def test_bad_shapes_are_errors():
    b = Bridge(0.5, 0.5, classes=DCASE2026)
    with pytest.raises(ValueError, match="weak_prob must be"):
        b(torch.zeros(3, 18), None, None, N)
    with pytest.raises(ValueError, match="slots, expected 1..3"):
        b(torch.zeros(4, 19), None, None, N)
    with pytest.raises(ValueError, match="strong_prob must be"):
        b(torch.zeros(3, 19), torch.zeros(2, 25, 19), frames(0.04, 25), N)


def test_per_class_report_thresholds():
    inv = ClassInventory(["Cough", "Pour", "Speech"])
    weak = torch.tensor([[0.7, 0.0, 0.0, 0.3],     # Cough, conf 0.7
                         [0.0, 0.6, 0.0, 0.4],     # Pour, conf 0.6
                         [0.0, 0.0, 0.45, 0.55]])  # Speech, conf 0.45
    plain = Bridge(0.5, 0.4, classes=inv)(weak, None, None, 32000)
    assert plain.reported_labels == ["Cough", "Pour"]
    bridge = Bridge(0.5, 0.4, classes=inv, class_report_thresholds={"Cough": 0.8, "Speech": 0.4})
    out = bridge(weak, None, None, 32000)
    assert out.reported_labels == ["Pour", "Speech"]          # Cough needs 0.8 now, Speech 0.4
    assert out.query.tolist() == [True, True, True]           # queries do not change
    assert "class_report_thresholds" in repr(bridge)
    with pytest.raises(ValueError, match="unknown sound class 'Coughs' in class_report_thresholds"):
        Bridge(0.5, 0.4, classes=inv, class_report_thresholds={"Coughs": 0.6})
    with pytest.raises(ValueError, match=r"class_report_thresholds\[Pour\] \(0.3\) must not be below"):
        Bridge(0.5, 0.4, classes=inv, class_report_thresholds={"Pour": 0.3})


def test_argmax_rule_is_the_baselines_decision():
    inv = ClassInventory(["Cough", "Pour", "Speech"])
    weak = torch.tensor([[0.30, 0.25, 0.0, 0.45],    # conf 0.55 but silence is the argmax
                         [0.0, 0.40, 0.0, 0.60],     # silence wins
                         [0.0, 0.0, 0.35, 0.35],     # tie: the class (first maximum) wins
                         ])
    out = Bridge(0.5, 0.3, classes=inv, argmax=True)(weak, None, None, 32000)
    # by hand: slot 2 only (0.35 >= 0.35); slot 0 would pass the thresholds (0.55 >= 0.5)
    assert out.reported_labels == ["Speech"] and out.query.tolist() == [True, False, False]
    thresholds = Bridge(0.5, 0.3, classes=inv)(weak, None, None, 32000)
    assert thresholds.reported_labels == ["Speech", "Cough"]      # by confidence 0.65, 0.55
    assert "argmax=True" in repr(Bridge(0.5, 0.3, classes=inv, argmax=True))
