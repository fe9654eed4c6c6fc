"""Fixtures shared by the tagger model tests."""
import pytest
import torch


@pytest.fixture
def meta_build(monkeypatch):
    """Build models on the meta device (no memory, no init time) to count parameters; the
    encoders' front ends (filter banks computed from data) are built on the CPU."""
    import s5tse.models.tagger.fpasst as fpasst_module
    import s5tse.models.tagger.m2d as m2d_module

    def on_cpu(cls):
        def build(*args, **kwargs):
            with torch.device("cpu"):
                return cls(*args, **kwargs)
        return build

    monkeypatch.setattr(m2d_module, "M2DLogMel", on_cpu(m2d_module.M2DLogMel))
    monkeypatch.setattr(fpasst_module, "KaldiFbankFrontend",
                        on_cpu(fpasst_module.KaldiFbankFrontend))

    def build(factory, *args, **kwargs):
        with torch.device("meta"):
            return factory(*args, **kwargs)
    return build
