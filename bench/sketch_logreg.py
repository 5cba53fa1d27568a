"""A diagnostic, not a baseline: L2 logistic regression fitted to
convergence (scikit-learn's liblinear) on tinyhead's own stored sketches,
weighed as the trainer's sketch layer weighs them, on the same rows and
validation split as Train (go run ./bench/export). It says how far the
sketch layer's SGD is from the exact optimum of a linear model over the
same features.

The features, as internal/mlp prepares them for a sketch layer of
--buckets buckets: each stored entry (FNV-1a hash, sublinear TF, L2
normalised; internal/sketch) is dropped when its hash's low 22 bits occur
in one training row only (mlp's seenOnce), folded into bucket hash mod
buckets, multiplied by the bucket's smooth IDF over the training rows'
entries (mlp's sketchIDF), and every row is divided by one global scale,
the root mean square of the training rows' weighted norms.

  /usr/bin/python3 bench/sketch_logreg.py --db .cache/local/tinyhead.db \
      --export DIR --task spam --c 100,1000,10000

Prints one line per C: validation accuracy and macro-F1 (threshold 0.5,
tinyhead's scores), the fit's seconds.
"""
import argparse
import sqlite3
import time

import numpy as np

import common

SEEN_ONCE_BITS = 22


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True, help="tinyhead's SQLite database")
    ap.add_argument("--export", required=True)
    ap.add_argument("--task", required=True)
    ap.add_argument("--buckets", type=int, default=1 << 16)
    ap.add_argument("--c", default="100,1000,10000", help="comma-separated C values")
    args = ap.parse_args()
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression

    meta, _, y, is_val = common.load_export(args.export, args.task)
    ids = []
    with open(f"{args.export}/{args.task}.tsv") as f:
        next(f)
        ids = [int(line.split("\t", 1)[0]) for line in f]
    db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    sketch_of = dict(db.execute(
        "SELECT d.id, s.sketch FROM documents d JOIN sketches s ON s.content_hash = d.content_hash"))
    rows = []
    for i in ids:
        b = sketch_of[i]  # (uint32 index, float32 value) little-endian pairs
        pairs = np.frombuffer(b, dtype="<u4").reshape(len(b) // 8, 2)
        rows.append((pairs[:, 0].copy(), pairs[:, 1].copy().view("<f4")))

    low = (1 << SEEN_ONCE_BITS) - 1
    seen = {}
    for (idx, _), train in zip(rows, ~is_val):
        if train:
            for h in set((idx & low).tolist()):
                seen[h] = seen.get(h, 0) + 1
    mask = args.buckets - 1
    n_train = int((~is_val).sum())
    df = np.zeros(args.buckets)
    for (idx, _), train in zip(rows, ~is_val):
        if train:
            df[np.unique(idx & mask)] += 1
    idf = np.log((1 + n_train) / (1 + df)) + 1

    data, cols, ptr = [], [], [0]
    for idx, val in rows:
        keep = np.array([seen.get(h, 0) >= 2 for h in (idx & low).tolist()], dtype=bool)
        b = idx[keep] & mask
        data.append(val[keep].astype(np.float64) * idf[b])
        cols.append(b)
        ptr.append(ptr[-1] + len(b))
    x = sp.csr_matrix((np.concatenate(data), np.concatenate(cols), np.array(ptr)),
                      shape=(len(rows), args.buckets))
    x.sum_duplicates()
    xt, xv = x[~is_val], x[is_val]
    scale = 1 / np.sqrt(xt.multiply(xt).sum() / n_train)
    xt, xv = xt * scale, xv * scale
    for c in [float(v) for v in args.c.split(",")]:
        t0 = time.time()
        m = LogisticRegression(solver="liblinear", C=c, max_iter=1000).fit(xt, y[~is_val])
        acc, f1 = common.scores(y[is_val], m.predict(xv), len(meta["labels"]))
        print(f"{args.task} buckets={args.buckets} C={c:g} accuracy={acc:.4f} macro_f1={f1:.4f} fit_s={time.time() - t0:.2f}", flush=True)


if __name__ == "__main__":
    main()
