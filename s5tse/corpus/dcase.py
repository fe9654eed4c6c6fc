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
