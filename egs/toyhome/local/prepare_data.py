#!/usr/bin/env python3
"""ToyHome corpus -> the s5tse data contract (s5tse/fileio/contract.py): the pool tables.

The corpus keeps every event in one flat folder with a CSV of labels, the same for the
distractors (non-target sounds); ambiences and rooms are named by split:

    <corpus>/events/*.wav        events.csv       file,label,split,take
    <corpus>/distractors/*.wav   distractors.csv  file,label,split
    <corpus>/ambience/<split>_*.wav               4-channel FOA background
    <corpus>/rooms/<split>_*.sofa                 FOA room impulse responses

Writes ``<out>/lang/classes.txt`` (the classes in CSV order of first appearance) and, per
split, ``sound_event_<split>``, ``interference_<split>``, ``noise_<split>``, ``rirs_<split>``.
A take (one recording session) is the exclusion group of its events.

    python local/prepare_data.py --corpus corpus/toyhome --out_dir data --splits train valid
"""
import argparse
import csv
import sys
from pathlib import Path

from s5tse.labels import CLASSES_FILE, ClassInventory
from s5tse.simulate.pools import PoolItem, write_event_pool, write_room_pool
from s5tse.simulate.sources import DatasetError


def read_csv(path: Path, columns):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for n, row in enumerate(rows, start=2):
        if any(not row.get(c) for c in columns):
            raise DatasetError(f"{path}:{n}: expected the columns {','.join(columns)}")
    return rows


def write_pools(corpus: Path, out: Path, splits) -> ClassInventory:
    events = read_csv(corpus / "events.csv", ("file", "label", "split", "take"))
    classes = ClassInventory(list(dict.fromkeys(r["label"] for r in events)),
                             where=str(corpus / "events.csv"))
    classes.write(out / CLASSES_FILE)
    distractors = read_csv(corpus / "distractors.csv", ("file", "label", "split"))
    for split in splits:
        def items(rows, folder, group=None):
            return [PoolItem(key=Path(r["file"]).stem, path=str(corpus / folder / r["file"]),
                             label=r["label"], group=r[group] if group else None)
                    for r in rows if r["split"] == split]

        write_event_pool(out / f"sound_event_{split}", items(events, "events", "take"))
        write_event_pool(out / f"interference_{split}", items(distractors, "distractors"),
                         label_table="utt2class")
        rooms = {p.stem: p for p in sorted((corpus / "rooms").glob(f"{split}_*.sofa"))}
        channels = write_room_pool(out / f"rirs_{split}", rooms)
        noise = [PoolItem(key=p.stem, path=str(p))
                 for p in sorted((corpus / "ambience").glob(f"{split}_*.wav"))]
        write_event_pool(out / f"noise_{split}", noise, channels=channels, label_table=None)
    return classes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--out_dir", required=True)
    parser.add_argument("--splits", nargs="+", default=["train", "valid"])
    args = parser.parse_args()
    try:
        classes = write_pools(Path(args.corpus), Path(args.out_dir), args.splits)
    except (ValueError, OSError) as e:  # DatasetError, InventoryError, unreadable files
        sys.exit(f"prepare_data.py: error: {e}")
    print(f"prepare_data.py: {args.out_dir}: {classes.num_classes} classes, pools of "
          f"{' '.join(args.splits)}")


if __name__ == "__main__":
    main()
