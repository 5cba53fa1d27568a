"""Supervised fastText (Debian package fasttext, its command-line tool) on
the raw texts of the same documents and validation split as tinyhead (go
run ./bench/export writes <task>.texts.jsonl beside the embeddings).

Texts are put on one line each and normalised as fastText's own
classification example does (lower case, punctuation split off, quotes and
:; dropped). Two settings:

  default  `fasttext supervised` with its defaults (5 epochs, lr 0.1,
           unigrams, dim 100)
  tuned    -epoch 25 -lr 1.0 -wordNgrams 2 -bucket 200000 (fastText's
           tutorial settings for small text classification sets)

both with -thread matching the benchmark's thread count. Reports the
training wall time of the fasttext process, its peak RSS (from wait4's
rusage), the model file size, validation accuracy and macro-F1, one JSON
line per setting on stdout.

  /usr/bin/python3 bench/fasttext_bench.py --export DIR --task spam --threads 2
"""
import argparse
import os
import re
import subprocess
import tempfile
import time

import common

SETTINGS = {
    "default": [],
    "tuned": ["-epoch", "25", "-lr", "1.0", "-wordNgrams", "2", "-bucket", "200000"],
}


def normalise(text):
    text = text.lower()
    text = text.replace("'", " ' ").replace('"', " ")
    text = re.sub(r"([.,()!?])", r" \1 ", text)
    text = re.sub(r"[;:]", " ", text)
    return " ".join(text.split())  # one line, single spaces


def run(cmd, stdout=subprocess.DEVNULL):
    """Runs cmd; returns (wall seconds, peak RSS MiB, stdout bytes or None)."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.DEVNULL)
    out = p.stdout.read() if stdout == subprocess.PIPE else None
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{cmd[0]} {cmd[1]} failed with status {p.returncode}")
    return wall, usage.ru_maxrss / 1024, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--export", required=True)
    ap.add_argument("--task", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--settings", default="default,tuned")
    ap.add_argument("--fasttext", default="fasttext")
    ap.add_argument("--positive", default="", help="a label whose F1 to report too")
    ap.add_argument("--seed", type=int, default=None, help="fastText's -seed (its training is Hogwild on 2 threads anyway)")
    args = ap.parse_args()

    meta, _, y, is_val = common.load_export(args.export, args.task)
    texts = common.load_texts(args.export, args.task)
    labels = meta["labels"]
    with tempfile.TemporaryDirectory(prefix="tinyhead-fasttext-") as tmp:
        train_path, val_path = os.path.join(tmp, "train.txt"), os.path.join(tmp, "val.txt")
        prep_start = time.perf_counter()
        with open(train_path, "w") as tr, open(val_path, "w") as va:
            for text, label_index, val in zip(texts, y, is_val):
                line = f"__label__{label_index} {normalise(text)}\n"
                (va if val else tr).write(line)
        prep_s = time.perf_counter() - prep_start
        val_y = y[is_val]
        for name in args.settings.split(","):
            prefix = os.path.join(tmp, "model-" + name)
            train_s, peak, _ = run([args.fasttext, "supervised", "-input", train_path, "-output", prefix,
                                    "-thread", str(args.threads)] + SETTINGS[name] +
                                   (["-seed", str(args.seed)] if args.seed is not None else []))
            pred_s, _, out = run([args.fasttext, "predict", prefix + ".bin", val_path], stdout=subprocess.PIPE)
            pred = [int(line.split("__label__")[1]) for line in out.decode().split("\n") if line]
            acc, f1 = common.scores(val_y, pred, len(labels))
            extra = {}
            if args.positive:
                extra["val_positive_f1"] = common.class_f1(val_y, pred, labels.index(args.positive))
            common.emit({**extra,
                "impl": "fasttext", "task": args.task, "recipe": name, "seed": args.seed, "threads": args.threads,
                "args": SETTINGS[name], "train_rows": int((~is_val).sum()), "val_rows": int(is_val.sum()),
                "prep_s": prep_s, "train_s": train_s, "predict_s": pred_s,
                "peak_rss_mib": peak, "model_mib": os.path.getsize(prefix + ".bin") / 2**20,
                "val_accuracy": acc, "val_macro_f1": f1,
            })


if __name__ == "__main__":
    main()
