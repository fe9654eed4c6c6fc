"""Evaluation metrics of DCASE 2026 Task 4 (numpy only): SDR, CAPI-SDRi, 2025 CA-SDRi,
label accuracy. See the reference, §5.1-5.3, and the module docstrings."""
from s5tse.metrics.capi import (  # noqa: F401
    MixtureResult,
    aggregate_ca_sdri_2025,
    aggregate_capi,
    best_pairing,
    ca_sdri_2025,
    capi_sdri,
    score_mixture,
)
from s5tse.metrics.labels import acc_mix, acc_src, label_counts  # noqa: F401
from s5tse.metrics.sdr import EPS, pairwise_snr_db, snr_db  # noqa: F401
