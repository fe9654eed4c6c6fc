"""Tests for s5tse.corpus.procedural (procedural mini-corpus sounds)."""

import numpy as np
import pytest
from scipy import signal

from s5tse.corpus.dcase import DCASE2026_CLASSES as TARGET_CLASSES
from s5tse.corpus import procedural as P

SR = 32000

# Official interference class names (DCASE 2026 Task 4 dev set, subset used here).
OFFICIAL_INTERFERENCE_SUBSET = {
    "Rain", "Engine", "Zipper (clothing)", "Tick-tock", "Printer", "Wind", "Air conditioning",
    "Bird flight, flapping wings", "Crumpling, crinkling", "Drip", "Hiss", "Traffic noise, roadway noise",
}


def _rng(*seed):
    return np.random.default_rng(list(seed))


# ----------------------------------------------------------------------------- registry
def test_registry_covers_all_targets_in_order():
    assert tuple(P.GENERATORS) == TARGET_CLASSES
    assert tuple(P.DURATION_RANGES) == TARGET_CLASSES
    for label, (lo, hi) in P.DURATION_RANGES.items():
        assert 0.3 <= lo < hi <= 6.0, label
    for label in ("VacuumCleaner", "HairDryer", "Blender", "MechanicalFans"):
        assert P.DURATION_RANGES[label][1] == 6.0


def test_interference_classes():
    assert 4 <= len(P.INTERFERENCE_CLASSES) <= 6
    assert set(P.INTERFERENCE_CLASSES) <= OFFICIAL_INTERFERENCE_SUBSET
    assert not set(P.INTERFERENCE_CLASSES) & set(TARGET_CLASSES)
    assert tuple(P.INTERFERENCE_GENERATORS) == P.INTERFERENCE_CLASSES


def test_unknown_labels_and_bad_arguments():
    with pytest.raises(ValueError, match="Guitar"):
        P.generate_event("Guitar", _rng(0))
    with pytest.raises(ValueError, match="Rain"):
        P.generate_event("Rain", _rng(0))  # interference is not a target
    with pytest.raises(ValueError, match="Speech"):
        P.generate_interference("Speech", _rng(0))
    with pytest.raises(TypeError):
        P.generate_event("Speech", 0)
    with pytest.raises(ValueError):
        P.generate_event("Speech", _rng(0), sample_rate=100)
    with pytest.raises(ValueError):
        P.generate_diffuse_noise(_rng(0), 1.0, num_channels=5)
    with pytest.raises(ValueError):
        P.generate_diffuse_noise(_rng(0), 0.0)


# ----------------------------------------------------------------------------- events
@pytest.mark.parametrize("label", TARGET_CLASSES)
def test_event_contract(label):
    lo, hi = P.DURATION_RANGES[label]
    durations = []
    for seed in range(4):
        x = P.generate_event(label, _rng(7, seed))
        assert x.dtype == np.float32 and x.ndim == 1
        assert np.all(np.isfinite(x))
        assert 0.1 < np.max(np.abs(x)) <= 1.0
        d = len(x) / SR
        assert lo - 1 / SR <= d <= hi + 1 / SR
        durations.append(len(x))
    assert len(set(durations)) > 1, "durations must vary across seeds"
    # the generator in the registry is the same thing
    np.testing.assert_array_equal(P.GENERATORS[label](_rng(7, 0)), P.generate_event(label, _rng(7, 0)))


@pytest.mark.parametrize("label", TARGET_CLASSES)
def test_event_determinism_and_variation(label):
    a = P.generate_event(label, _rng(3, 1))
    b = P.generate_event(label, _rng(3, 1))
    np.testing.assert_array_equal(a, b)
    c = P.generate_event(label, _rng(3, 2))
    assert len(a) != len(c) or not np.array_equal(a, c)
    # two consecutive draws from one generator differ too
    rng = _rng(3, 3)
    d, e = P.generate_event(label, rng), P.generate_event(label, rng)
    assert len(d) != len(e) or not np.allclose(d, e)


@pytest.mark.parametrize("sr", [8000, 16000, 48000])
def test_other_sample_rates(sr):
    for label in TARGET_CLASSES:
        x = P.generate_event(label, _rng(1), sample_rate=sr)
        lo, hi = P.DURATION_RANGES[label]
        assert x.dtype == np.float32 and np.all(np.isfinite(x)), label
        assert lo - 1 / sr <= len(x) / sr <= hi + 1 / sr, label
        assert 0.1 < np.max(np.abs(x)) <= 1.0, label
    for label in P.INTERFERENCE_CLASSES:
        assert np.all(np.isfinite(P.generate_interference(label, _rng(1), sample_rate=sr))), label


@pytest.mark.parametrize("label", ["Rain", "Engine", "Zipper (clothing)", "Tick-tock", "Printer", "Wind"])
def test_interference_contract(label):
    if label not in P.INTERFERENCE_CLASSES:
        pytest.skip(f"{label} not provided")
    x = P.generate_interference(label, _rng(5))
    lo, hi = P.INTERFERENCE_DURATION_RANGES[label]
    assert x.dtype == np.float32 and x.ndim == 1 and np.all(np.isfinite(x))
    assert 0.1 < np.max(np.abs(x)) <= 1.0
    assert lo - 1 / SR <= len(x) / SR <= hi + 1 / SR
    np.testing.assert_array_equal(x, P.generate_interference(label, _rng(5)))
    assert not np.array_equal(x[:1000], P.generate_interference(label, _rng(6))[:1000])


# ---------------------------------------------------- class distinctiveness (independent)
def _features(x, sr=SR):
    """Generic descriptors: log band-energy profile, its variability, envelope modulation
    spectrum, activity, spectral flatness / tonality / centroid, duration."""
    nper, hop = 1024, 512
    f, _, z = signal.stft(x.astype(np.float64), fs=sr, nperseg=nper, noverlap=nper - hop, boundary=None)
    p = np.abs(z) ** 2 + 1e-12
    edges = np.geomspace(60, 15000, 21)
    band = np.stack([p[(f >= lo) & (f < hi)].sum(0) for lo, hi in zip(edges[:-1], edges[1:])])
    e = p.sum(0)
    le = 10 * np.log10(e)
    active = le > le.max() - 30
    lb = 10 * np.log10(band[:, active] + 1e-12)
    prof = lb.mean(1)
    prof -= prof.mean()
    var = lb.std(1).reshape(5, 4).mean(1)
    env = e / e.max()
    env = env - env.mean()
    spec = np.abs(np.fft.rfft(env * np.hanning(len(env)), 1024)) ** 2
    mf = np.fft.rfftfreq(1024, hop / sr)
    mod = np.array([spec[(mf >= lo) & (mf < hi)].sum()
                    for lo, hi in [(0.3, 1), (1, 2), (2, 4), (4, 8), (8, 16), (16, 31)]])
    mod = 10 * np.log10(mod / (mod.sum() + 1e-20) + 1e-6)
    pa = p[:, active]
    flat = np.exp(np.mean(np.log(pa), 0)) / np.mean(pa, 0)
    tonal = pa.max(0) / pa.sum(0)
    cent = (f[:, None] * pa).sum(0) / pa.sum(0)
    other = [active.mean(), le[active].std() / 10, np.log10(flat.mean()), np.log10(tonal.mean()),
             np.log10(cent.mean()), np.std(np.log10(cent)), np.log10(len(x) / sr)]
    return np.concatenate([prof / 10, var / 10, mod / 10, other])


def _dataset(seed0, per_class=8):
    X, y = [], []
    for ci, label in enumerate(TARGET_CLASSES):
        for s in range(per_class):
            X.append(_features(P.generate_event(label, _rng(seed0, ci, s))))
            y.append(ci)
    return np.array(X), np.array(y)


def test_classes_are_distinct_nearest_centroid():
    """8 draws/class train a nearest-centroid classifier; 8 fresh draws/class must score >= 90 %."""
    Xtr, ytr = _dataset(1000)
    Xte, yte = _dataset(2000)
    k = len(TARGET_CLASSES)
    mu = Xtr.mean(0)
    sd = np.sqrt(np.mean([Xtr[ytr == c].var(0) for c in range(k)], 0)) + 1e-6  # pooled within-class
    ztr, zte = (Xtr - mu) / sd, (Xte - mu) / sd
    centroids = np.stack([ztr[ytr == c].mean(0) for c in range(k)])
    pred = np.argmin(((zte[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    acc = float(np.mean(pred == yte))
    confused = {TARGET_CLASSES[c]: [TARGET_CLASSES[q] for q in pred[(yte == c) & (pred != c)]] for c in range(k)}
    assert acc >= 0.9, (acc, {a: b for a, b in confused.items() if b})
    # every class is mostly recognised, not just the average
    per_class = [np.mean(pred[yte == c] == c) for c in range(k)]
    assert min(per_class) >= 0.5, dict(zip(TARGET_CLASSES, per_class))
    # within-class variation: features of different draws of one class are not identical
    for c in range(k):
        assert Xtr[ytr == c].std(0).max() > 0, TARGET_CLASSES[c]


# ----------------------------------------------------------------------------- diffuse noise
def test_diffuse_noise():
    for seed in range(5):
        x = P.generate_diffuse_noise(_rng(11, seed), 10.0)
        assert x.shape == (4, 10 * SR) and x.dtype == np.float32
        assert np.all(np.isfinite(x)) and np.max(np.abs(x)) <= 1.0
        xd = x.astype(np.float64)
        energy = (xd ** 2).mean(1)
        assert np.argmax(energy) == 0 and np.all(energy[1:] < 0.6 * energy[0])
        r = np.corrcoef(xd[1:])
        assert np.all(np.abs(r[np.triu_indices(3, 1)]) < 0.2), r
        f, pw = signal.welch(xd[0], fs=SR, nperseg=4096)
        low = pw[f < 1000].sum()
        high = pw[(f >= 8000) & (f < 9000)].sum()
        assert low > 10 * high  # coloured, not white
    a = P.generate_diffuse_noise(_rng(1), 2.0)
    np.testing.assert_array_equal(a, P.generate_diffuse_noise(_rng(1), 2.0))
    assert not np.array_equal(a, P.generate_diffuse_noise(_rng(2), 2.0))
    w = P.generate_diffuse_noise(_rng(1), 2.0, sample_rate=16000, num_channels=1)
    assert w.shape == (1, 32000)

