"""Scoring of DCASE 2026 Task 4 outputs from files: inputs (:mod:`s5tse.scoring.io`) and
set scores, breakdowns and reports (:mod:`s5tse.scoring.score`)."""
from s5tse.scoring.io import (  # noqa: F401
    LoadedItem,
    ScoringError,
    ScoringItem,
    items_from_folders,
    items_from_tables,
    load_item,
    scan_estimates,
    warn_missing_estimates,
)
from s5tse.scoring.score import (  # noqa: F401
    ItemResult,
    SetResult,
    headline,
    score_item,
    score_loaded,
    score_set,
    summarize,
    unprocessed_estimates,
    write_scores,
)
