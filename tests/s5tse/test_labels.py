"""Tests for s5tse.labels (official DCASE 2026 Task 4 class list)."""
import numpy as np
import pytest

from s5tse import labels as L

OFFICIAL = [
    "AlarmClock", "BicycleBell", "Blender", "Buzzer", "Clapping", "Cough",
    "CupboardOpenClose", "Dishes", "Doorbell", "FootSteps", "HairDryer", "MechanicalFans",
    "MusicalKeyboard", "Percussion", "Pour", "Speech", "Typing", "VacuumCleaner",
]


def test_class_list_and_order():
    assert isinstance(L.TARGET_CLASSES, tuple)
    assert list(L.TARGET_CLASSES) == OFFICIAL
    assert len(L.TARGET_CLASSES) == 18 == L.NUM_CLASSES
    assert L.SILENCE == "silence"
    assert L.NUM_SLOTS == 3


def test_index_round_trip():
    for i, name in enumerate(OFFICIAL):
        assert L.label_to_index(name) == i
        assert L.index_to_label(i) == name
    assert L.label_to_index("silence") == 18 == L.SILENCE_INDEX
    assert L.index_to_label(18) == "silence"
    for bad in (-1, 19, 2.5, "3"):
        with pytest.raises(ValueError):
            L.index_to_label(bad)
    assert L.index_to_label(np.int64(4)) == "Clapping"


def test_check_label_error_names_context_and_lists_valid_labels():
    assert L.check_label("Speech") == "Speech"
    with pytest.raises(ValueError) as exc:
        L.check_label("Guitar", where="sound_event/train/Guitar/1.wav")
    msg = str(exc.value)
    assert "'Guitar'" in msg and "sound_event/train/Guitar/1.wav" in msg
    for name in OFFICIAL:
        assert name in msg
    assert "silence" not in msg
    with pytest.raises(ValueError, match="did you mean 'Speech'"):
        L.check_label("speech")
    with pytest.raises(ValueError):
        L.check_label("silence")
    assert L.check_label("silence", allow_silence=True) == "silence"
    with pytest.raises(ValueError) as exc:
        L.check_label("x", allow_silence=True)
    assert "silence" in str(exc.value)
    with pytest.raises(ValueError):
        L.label_to_index("Footsteps")


def test_multi_hot():
    v = L.multi_hot(["Speech", "Dishes", "Speech", "silence"])
    assert v.shape == (18,) and v.dtype == np.float32
    assert set(np.flatnonzero(v)) == {7, 15}
    assert v.max() == 1.0
    assert not L.multi_hot([]).any()
    with pytest.raises(ValueError):
        L.multi_hot(["Guitar"])


def test_one_hot_slots():
    m = L.one_hot_slots(["Typing", "Typing"])
    assert m.shape == (3, 19) and m.dtype == np.float32
    np.testing.assert_array_equal(m.sum(1), 1.0)
    assert list(m.argmax(1)) == [16, 16, 18]
    assert list(L.one_hot_slots([]).argmax(1)) == [18, 18, 18]
    assert L.one_hot_slots(["Pour"], num_slots=1).shape == (1, 19)
    with pytest.raises(ValueError):
        L.one_hot_slots(["Pour"] * 4)
    with pytest.raises(ValueError):
        L.one_hot_slots(["Guitar"])
