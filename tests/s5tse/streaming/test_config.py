"""StreamingConfig validation, presets and resolution."""
import pytest

from s5tse.streaming import STREAMING_PRESETS, StreamingConfig, resolve_streaming_config


def test_valid_config_and_int_coercion():
    cfg = StreamingConfig(past=0, present=1, future=0)
    assert (cfg.past, cfg.present, cfg.future) == (0, 1, 0)
    assert cfg.for_hop(256) == cfg


@pytest.mark.parametrize("args", [(0, 0, 0), (-1, 4, 0), (2, 4, -3), (1.5, 4, 0)])
def test_invalid_config_one_line_value_error(args):
    with pytest.raises(ValueError) as err:
        StreamingConfig(*args)
    assert "\n" not in str(err.value)


def test_presets_durations_at_reference_hop():
    low = STREAMING_PRESETS["low_latency"].seconds(256)
    assert low["past"] == pytest.approx(1.0)
    assert low["present"] == pytest.approx(0.25, abs=0.01)
    assert low["future"] == pytest.approx(0.125, abs=0.01)
    long = STREAMING_PRESETS["long_context"].seconds(256)
    assert long["past"] == pytest.approx(4.0)
    assert long["present"] == pytest.approx(1.0)
    assert long["future"] == pytest.approx(0.5, abs=0.01)


def test_for_hop_keeps_durations():
    # hop 128 = twice the frame rate of the reference hop 256
    cfg = STREAMING_PRESETS["low_latency"].for_hop(128)
    assert (cfg.past, cfg.present, cfg.future, cfg.reference_hop) == (250, 64, 32, None)
    assert StreamingConfig(4, 1, 1, reference_hop=64).for_hop(1024).present == 1  # never below 1


def test_resolve():
    assert resolve_streaming_config(None) is None
    assert resolve_streaming_config("offline") is None and resolve_streaming_config(" Offline ") is None
    assert resolve_streaming_config("125, 32,16") == StreamingConfig(125, 32, 16)
    with pytest.raises(ValueError):
        resolve_streaming_config("1,2")
    assert resolve_streaming_config("long_context") == STREAMING_PRESETS["long_context"]
    assert resolve_streaming_config((3, 2, 1)) == StreamingConfig(3, 2, 1)
    assert resolve_streaming_config("long_context", hop_length=256) == StreamingConfig(500, 125, 62)
    with pytest.raises(ValueError):
        resolve_streaming_config("nope")
    with pytest.raises(ValueError):
        resolve_streaming_config((1, 2))
