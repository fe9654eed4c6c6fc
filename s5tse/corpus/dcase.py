"""The DCASE 2026 Task 4 class list (dataset-specific: only :mod:`s5tse.corpus` and the
recipe's ``local/`` name these classes).

The 18 target classes in the task's index order (identical in 2025 and 2026; they are the
sub-folder names under ``sound_event/{train,valid}`` and the labels in output file names).
Stage 1 writes them to ``data/lang/classes.txt``; everything downstream reads that file.

    from s5tse.corpus.dcase import DCASE2026
    DCASE2026.num_classes        # 18
"""
from __future__ import annotations

from s5tse.labels import ClassInventory

DCASE2026_CLASSES: tuple = (
    "AlarmClock",
    "BicycleBell",
    "Blender",
    "Buzzer",
    "Clapping",
    "Cough",
    "CupboardOpenClose",
    "Dishes",
    "Doorbell",
    "FootSteps",
    "HairDryer",
    "MechanicalFans",
    "MusicalKeyboard",
    "Percussion",
    "Pour",
    "Speech",
    "Typing",
    "VacuumCleaner",
)

DCASE2026 = ClassInventory(DCASE2026_CLASSES, where="DCASE 2026 Task 4 classes")

#: The official baseline on the development test set (data/dev_set/synthesized/test), as
#: reported by the organisers: (label, CAPI-SDRi, Acc_mix, Acc_src). Stage 1 writes them to
#: ``data/test/reported_results.tsv`` for the real corpus (not for the mini corpus).
DCASE2026_REPORTED_BASELINES: tuple = (
    ("M2DAT_4c + ResUNetK", 8.489, 60.714, 70.394),
    ("M2DAT_1c + ResUNetK", 8.171, 57.143, 67.147),
)
DCASE2026_REPORTED_NOTE = ("official DCASE 2026 Task 4 baseline scores on the development test "
                           "set as reported by the task organisers")


def reported_results_tsv() -> str:
    """The text of ``reported_results.tsv`` (:class:`s5tse.results.show.Reported`)."""
    rows = [f"{label}\t{capi}\t{acc_mix}\t{acc_src}"
            for label, capi, acc_mix, acc_src in DCASE2026_REPORTED_BASELINES]
    return "\n".join([f"# {DCASE2026_REPORTED_NOTE}", *rows]) + "\n"
