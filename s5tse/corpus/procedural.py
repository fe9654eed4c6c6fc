"""Procedurally synthesised sound events for the s5tse mini corpus.

The real DCASE 2026 Task 4 data cannot be used here, so the mini corpus is built from
sounds synthesised on the fly.  Each of the 18 target classes (and a handful of
interference classes) has one small generator whose output is meant to be *recognisably
different from the other classes* (spectral shape and/or temporal structure) and *varied
within its class* (every draw samples pitch, timbre, rhythm, duration, ...).  They are
caricatures, not realistic recordings: enough for a system to learn something and for the
recipe plumbing to be exercised end to end.

All randomness comes from the ``numpy.random.Generator`` passed in, so a given seed always
gives the same waveform.  Everything is vectorised numpy / scipy.signal.

Public API
----------
``generate_event(label, rng, sample_rate=32000)``            mono float32 target event
``generate_interference(label, rng, sample_rate=32000)``     mono float32 non-target event
``generate_diffuse_noise(rng, duration_s, sample_rate=32000, num_channels=4)``
                                                             [C, T] float32 FOA (W, Y, Z, X) noise
``GENERATORS`` / ``INTERFERENCE_GENERATORS``                 label -> fn(rng, sample_rate)
``DURATION_RANGES`` / ``INTERFERENCE_DURATION_RANGES``       label -> (min_s, max_s)
``INTERFERENCE_CLASSES``                                     official interference names used
"""
from __future__ import annotations

from typing import Callable, Dict, Tuple

import numpy as np
from scipy import fft as sfft
from scipy import signal

from s5tse.corpus.dcase import DCASE2026_CLASSES as TARGET_CLASSES

DEFAULT_SAMPLE_RATE = 32000
MIN_SAMPLE_RATE = 8000
PEAK_RANGE: Tuple[float, float] = (0.3, 0.95)  # peak |x| of every generated event
_FADE_S = 0.005

GeneratorFn = Callable[..., np.ndarray]

GENERATORS: Dict[str, GeneratorFn] = {}
DURATION_RANGES: Dict[str, Tuple[float, float]] = {}
INTERFERENCE_GENERATORS: Dict[str, GeneratorFn] = {}
INTERFERENCE_DURATION_RANGES: Dict[str, Tuple[float, float]] = {}


# ----------------------------------------------------------------------------- helpers
def _check_args(rng, sample_rate) -> int:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    sr = int(sample_rate)
    if sr != sample_rate or sr < MIN_SAMPLE_RATE:
        raise ValueError(f"sample_rate must be an integer >= {MIN_SAMPLE_RATE}, got {sample_rate!r}")
    return sr


def _finish(x: np.ndarray, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Remove DC, fade the edges, scale to a random peak, return float32."""
    x = np.asarray(x, dtype=np.float64)
    x = x - np.mean(x)
    nf = min(int(_FADE_S * sr), len(x) // 4)
    if nf > 0:
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, nf))
        x[:nf] *= ramp
        x[-nf:] *= ramp[::-1]
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    target = rng.uniform(*PEAK_RANGE)
    if not np.isfinite(peak) or peak <= 1e-9:  # never expected; keep the contract anyway
        x = 1e-3 * rng.standard_normal(len(x))
        peak = float(np.max(np.abs(x)))
    return (x * (target / peak)).astype(np.float32)


def _register(table, ranges, label: str, dur_range: Tuple[float, float]):
    """Wrap ``raw(rng, n, sr) -> float64[n]`` into ``fn(rng, sample_rate) -> float32[T]``."""

    def deco(raw):
        def fn(rng: np.random.Generator, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
            sr = _check_args(rng, sample_rate)
            dur = rng.uniform(*dur_range)
            n = int(round(dur * sr))
            x = raw(rng, n, sr)
            assert x.shape == (n,), (label, x.shape, n)
            return _finish(x, rng, sr)

        fn.__name__ = raw.__name__
        fn.__qualname__ = raw.__qualname__
        fn.__doc__ = raw.__doc__
        table[label] = fn
        ranges[label] = (float(dur_range[0]), float(dur_range[1]))
        return fn

    return deco


def _target(label, lo, hi):
    return _register(GENERATORS, DURATION_RANGES, label, (lo, hi))


def _interf(label, lo, hi):
    return _register(INTERFERENCE_GENERATORS, INTERFERENCE_DURATION_RANGES, label, (lo, hi))


def _t(n: int, sr: int) -> np.ndarray:
    return np.arange(n) / sr


def _filt(x, sr, btype, freq, order=4):
    """Butterworth filter (SOS) with band edges clamped below Nyquist."""
    top = 0.45 * sr
    if btype == "bandpass":
        lo, hi = float(freq[0]), float(freq[1])
        lo = min(max(lo, 10.0), top / 1.5)
        hi = min(max(hi, lo * 1.2), top)
        wn = [lo, hi]
    else:
        wn = min(max(float(freq), 10.0), top)
    sos = signal.butter(order, wn, btype=btype, fs=sr, output="sos")
    return signal.sosfilt(sos, x, axis=-1)


def _resonator(x, sr, f0, q):
    """Second-order peaking band-pass (resonance at f0 with quality q)."""
    f0 = min(max(float(f0), 20.0), 0.45 * sr)
    b, a = signal.iirpeak(f0, q, fs=sr)
    return signal.lfilter(b, a, x)


def _colored(rng, n, exponent):
    """Unit-variance noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown)."""
    m = sfft.next_fast_len(max(n, 2), real=True)
    spec = sfft.rfft(rng.standard_normal(m))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    spec *= f ** (-0.5 * exponent)
    spec[0] = 0.0
    x = sfft.irfft(spec, m)[:n]
    return x / (np.std(x) + 1e-12)


def _smooth(rng, n, sr, rate_hz, lo=-1.0, hi=1.0):
    """Smooth random curve with ~rate_hz independent values per second, in [lo, hi]."""
    dur = n / sr
    k = max(2, int(np.ceil(dur * rate_hz)) + 2)
    knots_t = np.linspace(0.0, dur, k)
    knots_v = rng.uniform(lo, hi, size=k)
    y = np.interp(_t(n, sr), knots_t, knots_v)
    w = max(1, int(sr / rate_hz / 2))
    if w > 1 and n > w:  # round the corners of the piecewise-linear curve
        win = np.hanning(w) / np.hanning(w).sum()
        y = signal.fftconvolve(np.pad(y, (w, w), mode="edge"), win, "same")[w:-w]
    return y


def _harmonic(phase, amps, sr):
    """sum_k amps[k] * sin((k+1) * phase) for a phase track (radians).

    Harmonics whose highest instantaneous frequency reaches 0.45*sr are dropped (no aliasing).
    """
    amps = np.asarray(amps, dtype=np.float64)
    f_top = np.max(np.diff(phase)) * sr / (2 * np.pi) if len(phase) > 1 else 0.0
    k = np.arange(1, len(amps) + 1)
    keep = k * f_top < 0.45 * sr
    keep[0] = True
    return amps[keep] @ np.sin(k[keep, None] * phase[None, :])


def _phase(freq, sr):
    """Running phase (radians) of an instantaneous frequency track."""
    return 2 * np.pi * np.cumsum(freq) / sr


def _damped(sr, length, freqs, amps, taus, rng=None):
    """Sum of exponentially decaying sinusoids, partials above 0.45*sr dropped."""
    t = _t(length, sr)[None, :]
    freqs = np.asarray(freqs, dtype=np.float64)
    keep = freqs < 0.45 * sr
    freqs, amps, taus = freqs[keep], np.asarray(amps, float)[keep], np.asarray(taus, float)[keep]
    ph = rng.uniform(0, 2 * np.pi, size=len(freqs))[:, None] if rng is not None else 0.0
    if len(freqs) == 0:
        return np.zeros(length)
    return (amps[:, None] * np.exp(-t / taus[:, None]) * np.sin(2 * np.pi * freqs[:, None] * t + ph)).sum(0)


def _overlay(n, onsets, grains, gains=None):
    """Add grains (1-D arrays) into a zero signal of length n at sample onsets."""
    out = np.zeros(n)
    for i, (o, g) in enumerate(zip(onsets, grains)):
        o = int(o)
        if o >= n or o + len(g) <= 0:
            continue
        s0 = max(0, -o)
        m = min(len(g), n - o)
        out[o + s0:o + m] += (g[s0:m] if gains is None else gains[i] * g[s0:m])
    return out


def _impulses(n, onsets, gains):
    x = np.zeros(n)
    onsets = np.asarray(onsets, dtype=np.int64)
    ok = (onsets >= 0) & (onsets < n)
    np.add.at(x, onsets[ok], np.asarray(gains, float)[ok])
    return x


def _conv(x, h, n):
    return signal.fftconvolve(x, h)[:n]


def _gate(n, sr, starts_s, lens_s, edge_s=0.003):
    """0/1 gate (with raised-cosine edges of edge_s) on for [start, start+len)."""
    g = np.zeros(n)
    for s, l in zip(starts_s, lens_s):
        a, b = int(s * sr), int((s + l) * sr)
        g[max(a, 0):max(min(b, n), 0)] = 1.0
    e = max(1, int(edge_s * sr))
    if e > 1:
        g = np.convolve(g, np.hanning(2 * e) / np.hanning(2 * e).sum(), mode="same")
    return g


def _fade_env(n, sr, t_in, t_out):
    env = np.ones(n)
    a, b = min(n, int(t_in * sr)), min(n, int(t_out * sr))
    if a > 1:
        env[:a] = np.linspace(0.0, 1.0, a)
    if b > 1:
        env[-b:] *= np.linspace(1.0, 0.0, b)
    return env


def _onset_train(rng, dur, rate, jitter, start=0.0, end_margin=0.1):
    """Onset times (s) at ~rate per second with relative jitter of the intervals."""
    times, t = [], start
    while t < dur - end_margin:
        times.append(t)
        t += (1.0 / rate) * (1.0 + jitter * rng.uniform(-1, 1))
    return np.array(times)


# ----------------------------------------------------------------------------- targets
@_target("AlarmClock", 1.0, 4.0)
def alarm_clock(rng, n, sr):
    """Groups of high piezo beeps (2-4 kHz, odd harmonics) repeating at a fixed period."""
    f = min(rng.uniform(2000, 4000), 0.4 * sr)
    beeps = int(rng.integers(1, 5))
    beep = rng.uniform(0.04, 0.12)
    gap = rng.uniform(0.04, 0.10)
    period = beeps * (beep + gap) + rng.uniform(0.15, 0.6)
    dur = n / sr
    starts, lens = [], []
    t0 = rng.uniform(0.0, 0.1)
    while t0 < dur:
        for b in range(beeps):
            starts.append(t0 + b * (beep + gap))
            lens.append(beep)
        t0 += period
    gate = _gate(n, sr, starts, lens, edge_s=0.002)
    t = _t(n, sr)
    warble = rng.uniform(0, 0.03) * np.sin(2 * np.pi * rng.uniform(8, 25) * t)
    ph = _phase(f * (1 + warble), sr)
    amps = [1.0, 0.0, rng.uniform(0.1, 0.4), 0.0, rng.uniform(0.0, 0.2)]
    return gate * _harmonic(ph, amps, sr)


@_target("BicycleBell", 0.8, 3.0)
def bicycle_bell(rng, n, sr):
    """Inharmonic, beating bell partials (1.5-3.5 kHz) struck 1-3 times; some draws trill."""
    f0 = rng.uniform(1500, 3500)
    ratios = np.array([1.0, 1.0 + rng.uniform(0.003, 0.012), 2.32, 4.25, 6.63]) * rng.uniform(0.97, 1.03, 5)
    amps = np.array([1.0, rng.uniform(0.5, 1.0), rng.uniform(0.3, 0.8),
                     rng.uniform(0.1, 0.5), rng.uniform(0.05, 0.3)])
    tau0 = rng.uniform(0.25, 0.9)
    taus = tau0 / np.array([1.0, 1.0, 1.6, 2.5, 3.5])
    ir_len = min(n, int(4 * tau0 * sr) + 1)
    ir = _damped(sr, ir_len, f0 * ratios, amps, taus, rng)
    dur = n / sr
    rings = int(rng.integers(1, 4))
    trill = rng.random() < 0.4
    onsets, gains = [], []
    t = rng.uniform(0.0, 0.1)
    for _ in range(rings):
        if t >= dur - 0.2:
            break
        if trill:
            tl, rate = rng.uniform(0.2, 0.5), rng.uniform(12, 20)
            k = np.arange(int(tl * rate) + 1)
            onsets += list(t + k / rate)
            gains += list(rng.uniform(0.5, 1.0, len(k)))
            t += tl
        else:
            onsets.append(t)
            gains.append(rng.uniform(0.7, 1.0))
        t += rng.uniform(0.2, 0.6)
    exc = _impulses(n, np.array(onsets) * sr, gains)
    return _conv(exc, ir, n)


@_target("Blender", 2.0, 6.0)
def blender(rng, n, sr):
    """Motor hum harmonics (150-400 Hz) with speed changes plus rotation-modulated grinding noise."""
    f = rng.uniform(150, 400) * (1 + rng.uniform(0.03, 0.12) * _smooth(rng, n, sr, rng.uniform(0.5, 2)))
    ph = _phase(f, sr)
    k = np.arange(1, 11)
    hum = _harmonic(ph, (1.0 / k ** rng.uniform(0.7, 1.3)) * rng.uniform(0.5, 1.0, 10), sr)
    band = (rng.uniform(200, 500), rng.uniform(5000, 9000))
    noise = _filt(_colored(rng, n, rng.uniform(0.3, 0.8)), sr, "bandpass", band)
    grind = 1 + 0.6 * _smooth(rng, n, sr, rng.uniform(6, 15), 0.0, 1.0)
    noise *= (1 + rng.uniform(0.3, 0.7) * np.sin(ph)) * grind
    x = rng.uniform(0.3, 0.8) * hum / np.std(hum) + noise / np.std(noise)
    return x * _fade_env(n, sr, rng.uniform(0.05, 0.4), rng.uniform(0.05, 0.4))


@_target("Buzzer", 0.5, 4.0)
def buzzer(rng, n, sr):
    """Harsh pulse/square wave (100-400 Hz) with a housing resonance, switched on and off."""
    f = rng.uniform(100, 400)
    t = _t(n, sr)
    ph = _phase(np.full(n, f) * (1 + 0.005 * np.sin(2 * np.pi * rng.uniform(3, 8) * t)), sr)
    x = signal.square(ph, duty=rng.uniform(0.15, 0.5))
    x = x + rng.uniform(1.0, 3.0) * _resonator(x, sr, rng.uniform(1500, 4000), rng.uniform(2, 5))
    x = _filt(x, sr, "lowpass", rng.uniform(8000, 12000), order=2)
    dur = n / sr
    on, off = rng.uniform(0.15, 0.8), rng.uniform(0.15, 0.5)
    starts = np.arange(rng.uniform(0, 0.1), dur, on + off)
    return x * _gate(n, sr, starts, [on] * len(starts), edge_s=0.004)


@_target("Clapping", 1.0, 4.0)
def clapping(rng, n, sr):
    """Train of short band-passed noise bursts (claps) at 2.5-7 per second, irregular."""
    dur = n / sr
    onsets = _onset_train(rng, dur, rng.uniform(2.5, 7.0), 0.25, start=rng.uniform(0, 0.15))
    fc = rng.uniform(800, 2500)
    glen = int(0.08 * sr)
    tg = _t(glen, sr)
    grains = []
    for _ in onsets:
        tau = rng.uniform(0.005, 0.015)
        env = np.minimum(tg / 0.001, 1.0) * np.exp(-tg / tau)
        g = rng.standard_normal(glen) * env
        g = _resonator(g, sr, fc * rng.uniform(0.85, 1.15), rng.uniform(1.0, 3.0)) + 0.3 * g
        grains.append(g)
    return _overlay(n, onsets * sr, grains, rng.uniform(0.5, 1.0, len(onsets)))


@_target("Cough", 0.5, 3.0)
def cough(rng, n, sr):
    """1-3 coughs: explosive broadband onset then a formant-filtered noisy/voiced tail."""
    dur = n / sr
    f1, f2 = rng.uniform(400, 900), rng.uniform(1200, 2200)
    f0 = rng.uniform(100, 250)
    count = int(rng.integers(1, 4))
    x = np.zeros(n)
    t = rng.uniform(0.0, 0.1)
    for _ in range(count):
        clen = rng.uniform(0.2, 0.45)
        if t + 0.15 > dur:
            break
        m = min(int(clen * sr), n - int(t * sr))
        tc = _t(m, sr)
        env = np.minimum(tc / rng.uniform(0.004, 0.01), 1.0) * np.exp(-tc / rng.uniform(0.05, 0.12))
        burst = np.exp(-tc / 0.03)
        noise = rng.standard_normal(m)
        voiced = signal.sawtooth(_phase(np.full(m, f0) * (1 - 0.2 * tc / clen), sr))
        src = noise + rng.uniform(0.5, 1.2) * voiced * (1 - burst)
        shaped = _resonator(src, sr, f1, 3.0) + 0.7 * _resonator(src, sr, f2, 4.0) + 0.6 * burst * noise
        a = int(t * sr)
        x[a:a + m] += rng.uniform(0.6, 1.0) * env * shaped
        t += clen + rng.uniform(0.05, 0.35)
    return _filt(x, sr, "lowpass", 7000, order=2)


@_target("CupboardOpenClose", 1.0, 4.0)
def cupboard(rng, n, sr):
    """Hinge creak (frequency-modulated sawtooth through a wood resonance) then a door thump."""
    dur = n / sr
    t0 = rng.uniform(0.0, 0.2)
    creak_len = rng.uniform(0.3, max(0.31, min(1.5, dur - t0 - 0.4)))
    m = int(creak_len * sr)
    tc = _t(m, sr)
    f = rng.uniform(40, 250) * (1 + rng.uniform(0.2, 0.5) * _smooth(rng, m, sr, rng.uniform(3, 8)))
    saw = signal.sawtooth(_phase(f, sr))
    creak = _resonator(saw, sr, rng.uniform(600, 2000), rng.uniform(3, 8)) + 0.2 * saw
    creak *= 0.5 + 0.5 * _smooth(rng, m, sr, rng.uniform(2, 6), 0.2, 1.0)  # stick-slip pressure
    creak *= np.sin(np.pi * tc / creak_len) ** 0.5
    x = np.zeros(n)
    a = int(t0 * sr)
    x[a:a + m] += rng.uniform(0.3, 0.7) * creak[: n - a]
    # thump: low damped sine + short click, after a pause
    tt = min(t0 + creak_len + rng.uniform(0.05, 0.8), dur - 0.3)
    glen = int(0.3 * sr)
    tg = _t(glen, sr)
    thump = _damped(sr, glen, [rng.uniform(60, 150), rng.uniform(180, 400)], [1.0, 0.4],
                    [rng.uniform(0.03, 0.08), rng.uniform(0.01, 0.03)], rng)
    click = _filt(rng.standard_normal(glen), sr, "bandpass", (1000, 4000)) * np.exp(-tg / 0.004)
    grain = thump + rng.uniform(0.2, 0.6) * click
    x += _overlay(n, [tt * sr], [grain], [1.0])
    return x


@_target("Dishes", 1.0, 4.0)
def dishes(rng, n, sr):
    """Clusters of clinks: short, high (2-9 kHz) inharmonic damped sinusoids plus ticks."""
    dur = n / sr
    clusters = int(rng.integers(1, 4))
    onsets = []
    for c in rng.uniform(0, max(0.05, dur - 0.3), clusters):
        k = int(rng.integers(1, 6))
        onsets += list(c + np.cumsum(rng.uniform(0.03, 0.2, k)))
    onsets = np.array([o for o in onsets if o < dur - 0.05])
    if len(onsets) == 0:
        onsets = np.array([rng.uniform(0, dur / 2)])
    glen = int(0.4 * sr)
    tg = _t(glen, sr)
    base = rng.uniform(2000, 5000)
    grains = []
    for _ in onsets:
        p = int(rng.integers(3, 6))
        freqs = base * rng.uniform(0.7, 1.4) * np.sort(rng.uniform(1.0, 2.8, p))
        g = _damped(sr, glen, freqs, rng.uniform(0.3, 1.0, p), rng.uniform(0.01, 0.12, p), rng)
        g += 0.4 * rng.standard_normal(glen) * np.exp(-tg / 0.0015)
        grains.append(g)
    return _overlay(n, onsets * sr, grains, rng.uniform(0.4, 1.0, len(onsets)))


@_target("Doorbell", 1.5, 4.0)
def doorbell(rng, n, sr):
    """Two-tone "ding-dong": long decaying near-harmonic chime, second tone a third lower."""
    f_hi = rng.uniform(550, 1100)
    f_lo = f_hi * rng.uniform(0.76, 0.84)
    ratios = np.array([1.0, 2.0 + rng.uniform(-0.02, 0.02), 3.0 + rng.uniform(-0.05, 0.05), 4.2])
    amps = np.array([1.0, rng.uniform(0.2, 0.6), rng.uniform(0.05, 0.3), rng.uniform(0.0, 0.15)])
    tau = rng.uniform(0.6, 1.5)
    taus = tau / np.array([1.0, 1.5, 2.2, 3.0])
    ir_len = min(n, int(3.5 * tau * sr))
    x = np.zeros(n)
    dur = n / sr
    t = rng.uniform(0.0, 0.15)
    gap = rng.uniform(0.35, 0.8)
    reps = 2 if (rng.random() < 0.3 and dur > t + 3 * gap + 0.5) else 1
    for _ in range(reps):
        for f in (f_hi, f_lo):
            if t < dur - 0.1:
                x += _overlay(n, [t * sr], [_damped(sr, ir_len, f * ratios, amps, taus, rng)], [1.0])
            t += gap
    return x


@_target("FootSteps", 2.0, 5.0)
def footsteps(rng, n, sr):
    """Periodic low thumps (1.5-2.5 steps/s) of low-passed noise, optional heel click / scuff."""
    dur = n / sr
    rate = rng.uniform(1.5, 2.5)
    onsets = _onset_train(rng, dur, rate, 0.08, start=rng.uniform(0, 0.3), end_margin=0.15)
    cutoff = rng.uniform(200, 600)
    hard = rng.random() < 0.5
    scuff = rng.uniform(0.05, 0.3) if rng.random() < 0.6 else 0.0
    glen = int(0.35 * sr)
    tg = _t(glen, sr)
    grains = []
    for i, _ in enumerate(onsets):
        env = np.minimum(tg / 0.003, 1.0) * np.exp(-tg / rng.uniform(0.03, 0.06))
        g = _filt(rng.standard_normal(glen), sr, "lowpass", cutoff, order=2) * env * 4.0
        g += _damped(sr, glen, [rng.uniform(50, 110)], [0.6], [0.05], rng)
        if hard:
            g += 0.3 * _filt(rng.standard_normal(glen), sr, "bandpass", (2000, 6000)) * np.exp(-tg / 0.005)
        if scuff > 0:
            d = int(0.08 * sr)
            s = np.zeros(glen)
            s[d:] = _filt(rng.standard_normal(glen - d), sr, "bandpass", (800, 4000))
            s[d:] *= np.exp(-tg[: glen - d] / 0.04)
            g += scuff * s
        grains.append(g * (1.0 if i % 2 == 0 else rng.uniform(0.7, 1.0)))
    return _overlay(n, onsets * sr, grains, rng.uniform(0.7, 1.0, len(onsets)))


@_target("HairDryer", 2.0, 6.0)
def hair_dryer(rng, n, sr):
    """Bright, flat airflow noise (to ~10 kHz) plus a high fan whine (4-8 kHz) spinning up."""
    band = (rng.uniform(300, 800), rng.uniform(8000, 13000))
    noise = _filt(_colored(rng, n, rng.uniform(0.0, 0.4)), sr, "bandpass", band)
    spin = 1 - rng.uniform(0.1, 0.3) * np.exp(-_t(n, sr) / rng.uniform(0.1, 0.4))
    fw = min(rng.uniform(4000, 8000), 0.42 * sr)
    whine = _harmonic(_phase(fw * spin * (1 + 0.002 * _smooth(rng, n, sr, 2)), sr), [1.0], sr)
    hum = _harmonic(_phase(fw / rng.integers(6, 12) * spin, sr), [1.0, 0.5], sr)
    x = noise + rng.uniform(0.15, 0.4) * np.sqrt(2) * whine + rng.uniform(0.02, 0.1) * hum
    x *= 1 + 0.03 * _smooth(rng, n, sr, 1.0)
    return x * _fade_env(n, sr, rng.uniform(0.1, 0.4), rng.uniform(0.1, 0.4))


@_target("MechanicalFans", 2.0, 6.0)
def mechanical_fan(rng, n, sr):
    """Steady low blade-pass hum (40-150 Hz + harmonics) over dark low-passed noise."""
    fb = rng.uniform(40, 150)
    ph = _phase(np.full(n, fb) * (1 + 0.003 * _smooth(rng, n, sr, 0.5)), sr)
    hum = _harmonic(ph, [1.0, rng.uniform(0.2, 0.7), rng.uniform(0.1, 0.4), rng.uniform(0.0, 0.2)], sr)
    noise = _filt(_colored(rng, n, rng.uniform(1.0, 1.6)), sr, "lowpass", rng.uniform(800, 2000))
    noise *= 1 + rng.uniform(0.05, 0.2) * np.sin(ph)  # blade chopping of the airflow
    x = rng.uniform(0.2, 0.6) * hum / np.std(hum) + noise / np.std(noise)
    return x * (1 + rng.uniform(0.03, 0.1) * _smooth(rng, n, sr, rng.uniform(0.2, 0.5)))


@_target("MusicalKeyboard", 1.0, 4.0)
def musical_keyboard(rng, n, sr):
    """A melody (sometimes chords) of harmonic notes on a scale with ADSR envelopes."""
    dur = n / sr
    scale = np.array([0, 2, 4, 5, 7, 9, 11]) if rng.random() < 0.6 else np.array([0, 2, 3, 5, 7, 8, 10])
    root = int(rng.integers(52, 68))
    note_len = rng.uniform(0.12, 0.35)
    tilt = rng.uniform(0.5, 1.2)
    att, dec = rng.uniform(0.003, 0.02), rng.uniform(0.08, 0.3)
    sus, rel = rng.uniform(0.2, 0.7), rng.uniform(0.08, 0.25)
    chords = rng.random() < 0.3
    degree = int(rng.integers(0, 7))
    x = np.zeros(n)
    t = rng.uniform(0.0, 0.1)
    while t < dur - 0.1:
        length = note_len * rng.choice([0.5, 1.0, 1.0, 1.0, 2.0])
        notes = [degree, degree + 2, degree + 4] if chords and rng.random() < 0.6 else [degree]
        glen = min(int((length + rel) * sr), n - int(t * sr))
        tg = _t(glen, sr)
        env = np.where(tg < att, tg / att, sus + (1 - sus) * np.exp(-(tg - att) / dec))
        env *= np.clip((length + rel - tg) / rel, 0.0, 1.0)
        grain = np.zeros(glen)
        for d in notes:
            midi = root + 12 * (d // 7) + scale[d % 7]
            f = 440.0 * 2 ** ((midi - 69) / 12)
            kmax = int(min(16, 0.45 * sr // f))
            k = np.arange(1, kmax + 1)
            grain += _damped(sr, glen, f * k, k ** -tilt, 2.0 / k ** 0.5, rng)
        x[int(t * sr):int(t * sr) + glen] += env * grain * rng.uniform(0.6, 1.0)
        t += length
        degree = int(np.clip(degree + rng.integers(-3, 4), 0, 10))
    return x


@_target("Percussion", 1.0, 4.0)
def percussion(rng, n, sr):
    """Drum hits (pitch-dropping membrane + noise) from a 2-3 voice kit on a rhythmic grid."""
    dur = n / sr
    step = 60.0 / rng.uniform(80, 160) / 2  # eighth notes
    steps = int(dur / step)
    voices = []
    kinds = rng.permutation(["kick", "tom", "snare", "hat"])[: int(rng.integers(2, 4))]
    for kind in kinds:
        if kind == "kick":
            voices.append((rng.uniform(45, 80), rng.uniform(0.15, 0.35), 0.05, 0.5))
        elif kind == "tom":
            voices.append((rng.uniform(100, 300), rng.uniform(0.1, 0.3), 0.2, 0.4))
        elif kind == "snare":
            voices.append((rng.uniform(170, 260), rng.uniform(0.08, 0.15), 0.9, 0.4))
        else:
            voices.append((None, rng.uniform(0.02, 0.06), 1.0, 0.6))
    x = np.zeros(n)
    for f0, tau, noise_amt, prob in voices:
        hits = np.flatnonzero(rng.random(max(steps, 1)) < prob)
        if len(hits) == 0:
            hits = np.array([0])
        glen = int(min(5 * tau, 1.0) * sr)
        tg = _t(glen, sr)
        env = np.exp(-tg / tau)
        noise = rng.standard_normal(glen)
        if f0 is None:
            grain = _filt(noise, sr, "highpass", 6000) * env
        else:
            f = f0 * (1 + rng.uniform(0.3, 1.5) * np.exp(-tg / 0.02))
            rattle = _filt(noise, sr, "bandpass", (1000, 8000)) * np.exp(-tg / min(tau, 0.06))
            grain = np.sin(_phase(f, sr)) * env + noise_amt * rattle
        onsets = (hits * step + rng.uniform(0, 0.1) + rng.normal(0, 0.005, len(hits))) * sr
        x += _overlay(n, onsets, [grain] * len(hits), rng.uniform(0.6, 1.0, len(hits)))
    return x


@_target("Pour", 1.5, 5.0)
def pour(rng, n, sr):
    """Liquid stream: noise through a rising resonance, bubbling AM, chirping bubbles, splash hiss."""
    dur = n / sr
    f_start, f_end = rng.uniform(300, 700), rng.uniform(1000, 3000)
    # time-varying resonance via STFT shaping
    nper = 512
    f, tt, z = signal.stft(rng.standard_normal(n), fs=sr, nperseg=nper)
    fc = f_start * (f_end / f_start) ** np.clip(tt / dur, 0, 1)
    bw = rng.uniform(0.3, 0.8) * fc
    shape = 1.0 / (1.0 + ((f[:, None] - fc[None, :]) / bw[None, :]) ** 2) + 0.05
    stream = signal.istft(z * shape, fs=sr, nperseg=nper)[1][:n]
    stream = np.pad(stream, (0, n - len(stream)))
    stream *= 1 + rng.uniform(0.4, 0.9) * _smooth(rng, n, sr, rng.uniform(10, 30), -1, 1)
    rate = rng.uniform(15, 50)
    k = rng.poisson(rate * dur)
    onsets = np.sort(rng.uniform(0, dur, k)) * sr
    glen = int(0.03 * sr)
    tg = _t(glen, sr)[None, :]
    fb = rng.uniform(500, 2500, (k, 1)) * (1 + rng.uniform(0.5, 2.0) * tg * 10)
    bub = np.sin(2 * np.pi * np.cumsum(fb, axis=1) / sr) * np.exp(-tg / rng.uniform(0.004, 0.015, (k, 1)))
    bubbles = _overlay(n, onsets, list(bub), rng.uniform(0.2, 1.0, k))
    band = (rng.uniform(2000, 3500), rng.uniform(8000, 12000))
    splash = _filt(rng.standard_normal(n), sr, "bandpass", band)
    splash *= 1 + 0.5 * _smooth(rng, n, sr, rng.uniform(5, 20), -1, 1)
    x = (stream / (np.std(stream) + 1e-12) + rng.uniform(0.5, 1.5) * bubbles / (np.std(bubbles) + 1e-9)
         + rng.uniform(0.3, 0.7) * splash / (np.std(splash) + 1e-12))
    return x * _fade_env(n, sr, rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.3))


_VOWELS = np.array(  # F1, F2, F3 (Hz), adult male reference
    [[730, 1090, 2440], [530, 1840, 2480], [270, 2290, 3010], [570, 840, 2410],
     [300, 870, 2240], [660, 1720, 2410], [490, 1350, 1690], [440, 1020, 2240]]
)


@_target("Speech", 1.0, 4.0)
def speech(rng, n, sr):
    """Formant babble: glottal pulses with intonation through moving vowel formants, 3-6 syl/s."""
    dur = n / sr
    t = _t(n, sr)
    f0_base = rng.uniform(90, 250)
    f0 = f0_base * (1 - rng.uniform(0.05, 0.25) * t / dur) * (1 + 0.08 * _smooth(rng, n, sr, rng.uniform(2, 4)))
    src = signal.sawtooth(_phase(f0, sr), width=rng.uniform(0.8, 0.95))
    src = signal.lfilter([1.0], [1.0, -0.9], np.diff(src, prepend=src[0]))  # tilt, glottal-pulse like
    src = src / (np.std(src) + 1e-12) + 0.05 * rng.standard_normal(n)
    # syllables
    syl_rate = rng.uniform(3.0, 6.0)
    bounds = [rng.uniform(0, 0.1)]
    while bounds[-1] < dur:
        bounds.append(bounds[-1] + (1 / syl_rate) * rng.uniform(0.6, 1.4))
    bounds = np.array(bounds)
    nsyl = len(bounds) - 1
    amp = rng.uniform(0.5, 1.0, nsyl) * (rng.random(nsyl) > 0.15)  # some pauses
    amp[0] = max(amp[0], 0.5)  # never a silent utterance
    phase_in_syl = np.interp(t, bounds, np.arange(nsyl + 1))
    idx = np.minimum(phase_in_syl.astype(int), nsyl - 1)
    frac = phase_in_syl - np.floor(phase_in_syl)
    env = amp[idx] * np.sin(np.pi * frac) ** 1.5
    # formant tracks (speaker scaling grows with f0)
    scale = rng.uniform(0.9, 1.05) * (f0_base / 120) ** 0.25
    vow = _VOWELS[rng.integers(0, len(_VOWELS), nsyl)] * scale * rng.uniform(0.93, 1.07, (nsyl, 3))
    centres = 0.5 * (bounds[:-1] + bounds[1:])
    nper = 512
    f, tt, z = signal.stft(src, fs=sr, nperseg=nper)
    shape = np.full(z.shape, 0.01)
    bws = np.array([80.0, 110.0, 160.0]) * rng.uniform(0.8, 1.3)
    gains = np.array([1.0, 0.6, 0.3])
    for j in range(3):
        fk = np.interp(tt, centres, vow[:, j])
        shape += gains[j] / (1 + ((f[:, None] - fk[None, :]) / (bws[j] / 2)) ** 2)
    voiced = signal.istft(z * shape, fs=sr, nperseg=nper)[1][:n]
    voiced = np.pad(voiced, (0, n - len(voiced)))
    voiced /= np.std(voiced) + 1e-12
    # fricative consonants at some syllable onsets
    fric = np.zeros(n)
    band = (rng.uniform(2500, 4000), rng.uniform(6000, 9000))
    fr_noise = _filt(rng.standard_normal(n), sr, "bandpass", band)
    for b, a in zip(bounds[:-1], amp):
        if a > 0 and rng.random() < 0.4:
            s0, s1 = int(b * sr), min(n, int((b + rng.uniform(0.04, 0.1)) * sr))
            if s1 > s0:
                fric[s0:s1] = np.hanning(s1 - s0) * rng.uniform(0.3, 0.8)
    return voiced * env + fric * fr_noise / (np.std(fr_noise) + 1e-12)


@_target("Typing", 1.0, 4.0)
def typing(rng, n, sr):
    """Irregular key-click trains (5-10 keys/s): press + softer release clicks with plastic resonance."""
    dur = n / sr
    rate = rng.uniform(5, 10)
    times, t = [], rng.uniform(0, 0.1)
    while t < dur - 0.05:
        times.append(t)
        t += rng.gamma(4.0, 1 / (4.0 * rate)) + (rng.uniform(0.2, 0.5) if rng.random() < 0.08 else 0.0)
    times = np.array(times)
    fres = min(rng.uniform(2000, 6000), 0.4 * sr)
    body = rng.uniform(300, 900)
    glen = int(0.03 * sr)
    tg = _t(glen, sr)
    k = len(times)
    clicks = rng.standard_normal((k, glen)) * np.exp(-tg / rng.uniform(0.0005, 0.002))[None, :]
    tone = np.sin(2 * np.pi * fres * rng.uniform(0.9, 1.1, (k, 1)) * tg) * np.exp(-tg / 0.003)
    thud = np.sin(2 * np.pi * body * tg) * np.exp(-tg / 0.006)
    grains = clicks + 0.5 * tone + rng.uniform(0.2, 0.6) * thud
    rel = rng.uniform(0.03, 0.09, k)
    onsets = np.concatenate([times, times + rel]) * sr
    gains = np.concatenate([rng.uniform(0.6, 1.0, k), rng.uniform(0.15, 0.4, k)])
    return _overlay(n, onsets, list(grains) * 2, gains)


@_target("VacuumCleaner", 2.0, 6.0)
def vacuum_cleaner(rng, n, sr):
    """Loud broadband pink-ish noise, strong motor whine (1-3 kHz) and low hum, suction changes."""
    noise = _filt(_colored(rng, n, rng.uniform(0.6, 1.0)), sr, "highpass", 80)
    load = _smooth(rng, n, sr, rng.uniform(0.2, 0.8))
    fw = rng.uniform(1000, 3000) * (1 + rng.uniform(0.01, 0.05) * load)
    whine = _harmonic(_phase(fw, sr), [1.0, rng.uniform(0.2, 0.6), rng.uniform(0.0, 0.3)], sr)
    hum = _harmonic(_phase(np.full(n, rng.uniform(50, 200)), sr), [1.0, 0.5, 0.3], sr)
    x = (noise / np.std(noise) + rng.uniform(0.4, 0.8) * whine / np.std(whine)
         + rng.uniform(0.2, 0.5) * hum / np.std(hum))
    x *= 1 + rng.uniform(0.05, 0.2) * load
    return x * _fade_env(n, sr, rng.uniform(0.2, 0.6), rng.uniform(0.1, 0.5))


# ------------------------------------------------------------------------ interference
@_interf("Rain", 2.0, 6.0)
def rain(rng, n, sr):
    """Dense random drop ticks plus hiss."""
    dur = n / sr
    k = rng.poisson(rng.uniform(100, 400) * dur)
    exc = _impulses(n, rng.integers(0, n, k), rng.pareto(3.0, k) + 0.1)
    glen = int(0.01 * sr)
    drop = rng.standard_normal(glen) * np.exp(-_t(glen, sr) / 0.0015)
    band = (rng.uniform(500, 2000), rng.uniform(7000, 12000))
    drops = _filt(_conv(exc, drop, n), sr, "bandpass", band)
    hiss = _filt(_colored(rng, n, 0.5), sr, "bandpass", (1000, 10000))
    return drops / (np.std(drops) + 1e-12) + rng.uniform(0.3, 1.0) * hiss


@_interf("Engine", 2.0, 6.0)
def engine(rng, n, sr):
    """Low rumble: firing-frequency harmonics (20-60 Hz) and pulsing low-passed noise."""
    ff = rng.uniform(20, 60) * (1 + rng.uniform(0.02, 0.15) * _smooth(rng, n, sr, 0.5))
    ph = _phase(ff, sr)
    k = np.arange(1, 21)
    tone = _harmonic(ph, rng.uniform(0.3, 1.0, 20) / k ** 0.8, sr)
    noise = _filt(rng.standard_normal(n), sr, "lowpass", rng.uniform(500, 1500))
    noise *= 1 + 0.8 * np.maximum(np.sin(ph), 0)  # pulses at the firing rate
    return tone / np.std(tone) + rng.uniform(0.3, 1.0) * noise / np.std(noise)


@_interf("Zipper (clothing)", 0.5, 3.0)
def zipper(rng, n, sr):
    """1-3 zip strokes: rapid tooth clicks (80-400 per second) with a swept rate."""
    dur = n / sr
    x = np.zeros(n)
    t = rng.uniform(0, 0.1)
    for _ in range(int(rng.integers(1, 4))):
        length = min(rng.uniform(0.2, 0.8), dur - t)
        if length < 0.1:
            break
        m = int(length * sr)
        rate = rng.uniform(80, 200) * (1 + rng.uniform(0.5, 1.0) * np.sin(np.pi * _t(m, sr) / length))
        cyc = np.cumsum(rate) / sr
        ticks = np.flatnonzero(np.diff(np.floor(cyc)) > 0)
        a = int(t * sr)
        x[a + ticks] += rng.uniform(0.5, 1.0, len(ticks))
        t += length + rng.uniform(0.1, 0.4)
    glen = int(0.003 * sr)
    click = rng.standard_normal(glen) * np.exp(-_t(glen, sr) / 0.0007)
    return _filt(_conv(x, click, n), sr, "bandpass", (rng.uniform(1500, 3000), rng.uniform(8000, 12000)))


@_interf("Tick-tock", 2.0, 6.0)
def tick_tock(rng, n, sr):
    """Clock: alternating short 'tick' and lower 'tock' clicks, ~2 per second."""
    dur = n / sr
    period = rng.uniform(0.4, 0.6)
    onsets = np.arange(rng.uniform(0, 0.2), dur - 0.05, period)
    glen = int(0.03 * sr)
    f_tick, f_tock = rng.uniform(2500, 4500), rng.uniform(1200, 2200)
    g_tick = _damped(sr, glen, [f_tick, 1.7 * f_tick], [1.0, 0.5], [0.003, 0.002], rng)
    g_tock = _damped(sr, glen, [f_tock, 1.6 * f_tock], [1.0, 0.4], [0.004, 0.002], rng)
    grains = [g_tick if i % 2 == 0 else g_tock for i in range(len(onsets))]
    return _overlay(n, onsets * sr, grains, rng.uniform(0.8, 1.0, len(onsets)))


@_interf("Printer", 2.0, 6.0)
def printer(rng, n, sr):
    """Inkjet-like: stepper-motor tone passes (sweeping back and forth) and paper-feed clunks."""
    dur = n / sr
    fm = rng.uniform(400, 1200)
    pass_len = rng.uniform(0.4, 1.0)
    starts = np.arange(rng.uniform(0, 0.2), dur, pass_len + rng.uniform(0.15, 0.4))
    gate = _gate(n, sr, starts, [pass_len] * len(starts), edge_s=0.02)
    ph = _phase(np.full(n, fm) * (1 + 0.02 * np.sin(2 * np.pi * _t(n, sr) / pass_len)), sr)
    motor = _harmonic(ph, [1.0, 0.6, 0.4, 0.2], sr) * (1 + 0.5 * signal.square(ph / rng.integers(8, 16)))
    noise = _filt(rng.standard_normal(n), sr, "bandpass", (500, 5000)) * 0.3
    glen = int(0.12 * sr)
    clunk = _damped(sr, glen, [rng.uniform(100, 250), rng.uniform(600, 1200)], [1.0, 0.5], [0.03, 0.01], rng)
    clunks = _overlay(n, (starts + pass_len + 0.05) * sr, [clunk] * len(starts), [1.5] * len(starts))
    return gate * (motor + noise) + clunks


@_interf("Wind", 2.0, 6.0)
def wind(rng, n, sr):
    """Gusting low-frequency (brownish) noise with a resonant howl."""
    base = _filt(_colored(rng, n, rng.uniform(1.5, 2.0)), sr, "highpass", 30)
    howl = _resonator(rng.standard_normal(n), sr, rng.uniform(200, 700), rng.uniform(2, 6))
    gust = 0.3 + 0.7 * _smooth(rng, n, sr, rng.uniform(0.3, 1.0), 0.0, 1.0)
    return gust * (base / np.std(base) + rng.uniform(0.1, 0.4) * howl / np.std(howl))


INTERFERENCE_CLASSES: Tuple[str, ...] = tuple(INTERFERENCE_GENERATORS)

if tuple(GENERATORS) != TARGET_CLASSES:  # one generator per target class, in official order
    raise RuntimeError("procedural GENERATORS do not match s5tse.corpus.dcase.DCASE2026_CLASSES")


# ----------------------------------------------------------------------------- public API
def generate_event(label: str, rng: np.random.Generator, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """Mono float32 event of target class ``label``; duration in ``DURATION_RANGES[label]``."""
    fn = GENERATORS.get(label)
    if fn is None:
        raise ValueError(
            f"no procedural generator for target class {label!r}; valid labels are: {', '.join(TARGET_CLASSES)}"
        )
    return fn(rng, sample_rate)


def generate_interference(
    label: str, rng: np.random.Generator, sample_rate: int = DEFAULT_SAMPLE_RATE
) -> np.ndarray:
    """Mono float32 non-target event of interference class ``label`` (see INTERFERENCE_CLASSES)."""
    fn = INTERFERENCE_GENERATORS.get(label)
    if fn is None:
        raise ValueError(
            f"no procedural generator for interference class {label!r}; valid classes are: "
            f"{', '.join(INTERFERENCE_CLASSES)}"
        )
    return fn(rng, sample_rate)


def generate_diffuse_noise(
    rng: np.random.Generator,
    duration_s: float,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    num_channels: int = 4,
    rms: float = 0.05,
) -> np.ndarray:
    """Diffuse-like FOA background noise, float32 [num_channels, T] in ACN order W, Y, Z, X.

    W is coloured noise (a pink/brown mix whose balance drifts slowly, high-passed at 30 Hz);
    Y, Z, X are independent noises of the same colouring scaled by 1/sqrt(3) relative to W,
    as in an isotropic diffuse field (SN3D).  A weak directional component (at most 4 % of
    the diffuse power, random direction) shared by all channels gives them a little
    coherence.  W has RMS ``rms`` (the whole array is scaled down if its peak would exceed
    0.99).  ``num_channels`` in 1..4 keeps the first channels.
    """
    sr = _check_args(rng, sample_rate)
    if not 1 <= int(num_channels) <= 4:
        raise ValueError(f"num_channels must be 1..4 (W, Y, Z, X), got {num_channels}")
    n = int(round(float(duration_s) * sr))
    if n <= 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    mix = _smooth(rng, n, sr, rng.uniform(0.05, 0.3), 0.2, 0.8)  # slow spectral-tilt drift
    pink_exp = rng.uniform(0.8, 1.2)

    def coloured():  # pink/brown mix, rumble below ~30 Hz removed (no microphone records it)
        pink = _filt(_colored(rng, n, pink_exp), sr, "highpass", 30)
        brown = _filt(_colored(rng, n, 2.0), sr, "highpass", 30)
        return (1 - mix) * pink / (np.std(pink) + 1e-12) + mix * brown / (np.std(brown) + 1e-12)

    diffuse = np.stack([coloured() for _ in range(4)])
    diffuse[1:] /= np.sqrt(3.0)
    az, el = rng.uniform(-np.pi, np.pi), rng.uniform(-np.pi / 4, np.pi / 4)
    steer = np.array([1.0, np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
    direct = np.sqrt(rng.uniform(0.0, 0.04)) * coloured()
    x = diffuse + steer[:, None] * direct[None, :]
    x *= rms / (np.std(x[0]) + 1e-12)
    peak = np.max(np.abs(x))
    if peak > 0.99:
        x *= 0.99 / peak
    return x[: int(num_channels)].astype(np.float32)
