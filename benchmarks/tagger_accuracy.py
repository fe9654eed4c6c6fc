#!/usr/bin/env python3
"""Accuracy of trained taggers alone on new on-the-fly mixtures (more than a test set holds).

The mini test set has 30 mixtures, so one mixture moves Acc_mix by 3.3 points: too coarse to
rank tagger variants. This scores each tagger, with the official argmax rule (a slot is output
iff its argmax is not silence), on ``--num_mixtures`` new mixtures synthesised from a split's
pools under the recipe's synthesis rules; the same seed gives every tagger the same mixtures.

Usage (from egs/dcase2026_task4, after stage 3; RESULTS.md notes use these settings):
    ../../tools/venv/bin/python ../../benchmarks/tagger_accuracy.py \\
        exp/tagger_fusion_mini_pretrained exp/tagger_m2dat_mini_pretrained \\
        --data data --split valid --num_mixtures 200 --nevent_range 1 3 --seed 4242

Prints figures; asserts nothing.
"""
import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("exp_dirs", nargs="+", help="tagger experiment dirs")
    parser.add_argument("--checkpoint", default="valid.loss.ave.pth",
                        help="weights file in each exp dir (decoding's default)")
    parser.add_argument("--data", default="data", help="the recipe's data/ (pool tables)")
    parser.add_argument("--split", default="valid", help="pools to draw from")
    parser.add_argument("--synthesis", default="conf/synthesis.yaml")
    parser.add_argument("--num_mixtures", type=int, default=200)
    parser.add_argument("--nevent_range", type=int, nargs=2, default=[1, 3])
    parser.add_argument("--seed", type=int, default=4242)
    args = parser.parse_args()

    import torch
    import yaml

    from s5tse.bridge import Bridge
    from s5tse.datasets.onthefly import OnTheFlyDataset
    from s5tse.decode.models import load_experiment
    from s5tse.labels import SILENCE
    from s5tse.metrics.labels import acc_mix, acc_src, label_counts

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    with open(args.synthesis) as f:
        rules = yaml.safe_load(f) or {}
    print(f"{args.num_mixtures} mixtures of the '{args.split}' pools of {args.data}, "
          f"{args.nevent_range[0]}-{args.nevent_range[1]} targets, seed {args.seed}; argmax rule")
    print("|tagger|Acc_mix (%)|Acc_src (%)|reported / reference sources|seconds|")
    print("|---|---|---|---|---|")
    for exp in args.exp_dirs:
        t0 = time.perf_counter()
        tagger = load_experiment(exp, args.checkpoint, "tagger")
        official = Bridge(0.5, 0.5, classes=tagger.classes, argmax=True)  # decoding's rule
        mixtures = OnTheFlyDataset(args.data, split=args.split, seed=args.seed,
                                   num_items=args.num_mixtures, classes=tagger.classes,
                                   generator={**rules, "nevent_range": args.nevent_range})
        results, reported, present = [], 0, 0
        for i in range(len(mixtures)):
            item = mixtures[i]
            with torch.no_grad():
                weak = tagger.network.predict(item["mixture"][None]).weak_prob[0]
            est = official(weak, None, None, item["mixture"].shape[-1]).reported_labels
            ref = [label for label in item["labels"] if label != SILENCE]
            results.append(label_counts(est, ref))
            reported, present = reported + len(est), present + len(ref)
        print(f"|{exp}|{acc_mix(results):.1f}|{acc_src(results):.1f}|{reported} / {present}|"
              f"{time.perf_counter() - t0:.0f}|")


if __name__ == "__main__":
    main()
