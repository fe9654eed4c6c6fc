"""s5tse: spatial semantic segmentation of sound scenes (DCASE 2026 Task 4)."""

__version__ = "0.1.0"
