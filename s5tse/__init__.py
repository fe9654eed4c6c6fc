"""s5tse: spatial semantic segmentation of sound scenes (DCASE 2026 Task 4).

    from s5tse import SceneSeparator        # a packed system on your own recordings
    model = SceneSeparator.from_pretrained("exp/packed/lq_sr_corrnet_fusion")
    sources = model("mixture.wav")          # [SeparatedSource(label, confidence, waveform, spans)]
"""

__version__ = "0.1.0"

__all__ = ["SceneSeparator", "SeparatedSource", "__version__"]


def __getattr__(name):  # imported on first use: ``import s5tse`` stays light
    if name in ("SceneSeparator", "SeparatedSource"):
        from s5tse import inference

        return getattr(inference, name)
    raise AttributeError(f"module 's5tse' has no attribute {name!r}")
