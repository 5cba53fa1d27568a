"""Helpers shared by the reference benchmarks in bench/: reading an export
of tinyhead's stored data (go run ./bench/export), scoring, and measuring
memory the way tinyhead's Go benchmarks do (VmHWM/VmRSS of /proc/self)."""
import json
import os
import sys

import numpy as np


def load_export(directory, task):
    """Returns (meta, x, y, is_val): the rows exactly as tinyhead's Train
    loads them (same order, label indices and stable validation split)."""
    with open(os.path.join(directory, task + ".json")) as f:
        meta = json.load(f)
    x = np.fromfile(os.path.join(directory, task + ".f32"), dtype="<f4")
    x = x.reshape(meta["rows"], meta["dim"])
    y, is_val = [], []
    with open(os.path.join(directory, task + ".tsv")) as f:
        next(f)
        for line in f:
            _, split, label_index, _ = line.rstrip("\n").split("\t")
            y.append(int(label_index))
            is_val.append(split == "val")
    y = np.asarray(y, dtype=np.int64)
    is_val = np.asarray(is_val, dtype=bool)
    assert len(y) == meta["rows"] and is_val.sum() == meta["validation"], "export is inconsistent"
    # Rows marked "split": "test" are neither trained nor validated on by
    # tinyhead; the baselines here do not hold them out yet.
    assert meta.get("test", 0) == 0, "the export has test rows, which these baselines would train on"
    return meta, x, y, is_val


def load_texts(directory, task):
    with open(os.path.join(directory, task + ".texts.jsonl")) as f:
        return [json.loads(line) for line in f]


def scores(y_true, y_pred, classes):
    """Accuracy and macro-F1 as tinyhead's mlp.Score computes them: the
    unweighted mean F1 over the classes present in y_true."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    acc = float((y_true == y_pred).mean())
    f1s = []
    for c in range(classes):
        if not (y_true == c).any():
            continue
        tp = int(((y_pred == c) & (y_true == c)).sum())
        fp = int(((y_pred == c) & (y_true != c)).sum())
        fn = int(((y_pred != c) & (y_true == c)).sum())
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return acc, float(np.mean(f1s))


def class_f1(y_true, y_pred, c):
    """The F1 of class c (0 when it is never predicted nor present)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    tp = int(((y_pred == c) & (y_true == c)).sum())
    fp = int(((y_pred == c) & (y_true != c)).sum())
    fn = int(((y_pred != c) & (y_true == c)).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def status_mib(field):
    """A memory figure of /proc/self/status (VmRSS, VmHWM) in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def reset_peak():
    """Resets the kernel's peak-RSS counter (VmHWM) of this process."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def emit(record):
    """One result: a JSON line on stdout (bench/report.py reads them)."""
    print(json.dumps(record), flush=True)


def log(*args):
    print(*args, file=sys.stderr, flush=True)
