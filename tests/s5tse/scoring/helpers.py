"""Tiny on-disk test sets for the scorer tests (official folder naming)."""
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import soundfile as sf

SR = 32000
T = 3200  # 0.1 s is enough for the scorer


def write_wav(path: Path, data: np.ndarray, sr: int = SR, subtype: str = "FLOAT") -> Path:
    """Write ``data`` [C, T] or [T] (float) to ``path``."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        data = data[None, :]
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data.T, sr, subtype=subtype)
    return path


def tone(freq: float, amp: float = 0.1, n: int = T, phase: float = 0.0) -> np.ndarray:
    t = np.arange(n) / SR
    return (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def make_set(
    root: Path,
    spec: Dict[str, Tuple[Sequence[Tuple[str, np.ndarray]], Sequence[Tuple[str, np.ndarray]]]],
    seed: int = 0,
) -> Tuple[Path, Path, Path]:
    """Write ``soundscape/``, ``oracle_target/`` and ``estimates/`` under ``root``.

    ``spec``: name -> (refs [(label, [T])], ests [(label, [T])]); the 4-ch mixture is the sum
    of the references plus a little noise (channel 0), other channels scaled copies.
    References are named ``<name>_<n>_<label>.wav``, estimates ``<name>_<slot>_<label>.wav``.
    Returns (soundscape_dir, oracle_dir, estimate_dir).
    """
    rng = np.random.default_rng(seed)
    sdir, odir, edir = root / "soundscape", root / "oracle_target", root / "estimates"
    for d in (sdir, odir, edir):
        d.mkdir(parents=True, exist_ok=True)
    for name, (refs, ests) in spec.items():
        ch0 = 0.01 * rng.standard_normal(T).astype(np.float32)
        for _, wav in refs:
            ch0 = ch0 + wav
        mix = np.stack([ch0, 0.5 * ch0, 0.3 * ch0, 0.2 * ch0])
        write_wav(sdir / f"{name}.wav", mix)
        for n, (label, wav) in enumerate(refs):
            write_wav(odir / f"{name}_{n}_{label}.wav", wav)
        for n, (label, wav) in enumerate(ests):
            write_wav(edir / f"{name}_{n}_{label}.wav", wav)
    return sdir, odir, edir


def simple_spec() -> Dict[str, Tuple[List, List]]:
    """Four soundscapes: zero-target, one target, a same-class duplicate, a wrong class."""
    a, b, c = tone(440), tone(1000, 0.05), tone(2500, 0.2)
    return {
        "s_0": ([], []),
        "s_1": ([("Speech", a)], [("Speech", a + 0.01 * b)]),
        "s_2": ([("Cough", a), ("Cough", b)], [("Cough", b), ("Cough", a)]),
        "s_3": ([("Pour", c)], [("Dishes", c)]),
    }
