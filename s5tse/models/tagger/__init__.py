"""Tagger models: M2D and fPaSST backbones (import the submodules directly)."""
