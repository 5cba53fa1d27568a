"""A second baseline: scikit-learn's LogisticRegression (Debian
python3-sklearn) on the same exported embeddings and split as tinyhead
(go run ./bench/export). Inputs standardised with the training rows' mean
and standard deviation (as tinyhead's default), or raw (--raw); lbfgs,
C=1.0, max_iter 1000 (the default 100 stops short of convergence on the
standardised 512-d rows). Reports fit seconds, load seconds, peak RSS and
its growth (VmHWM, reset before loading), validation accuracy and
macro-F1, one JSON line on stdout.

  /usr/bin/python3 bench/sklearn_logreg.py --export DIR --task spam --threads 2
"""
import argparse
import os
import time
import warnings

import common


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--export", required=True)
    ap.add_argument("--task", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--raw", action="store_true")
    ap.add_argument("--max-iter", type=int, default=1000)
    args = ap.parse_args()
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import numpy as np
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    common.reset_peak()
    base = common.status_mib("VmRSS")
    start = time.perf_counter()
    meta, x, y, is_val = common.load_export(args.export, args.task)
    train_x, train_y, val_x, val_y = x[~is_val], y[~is_val], x[is_val], y[is_val]
    if not args.raw:
        mean = train_x.mean(axis=0, dtype=np.float64)
        std = train_x.std(axis=0, dtype=np.float64)
        std[std < 1e-6] = 1
        train_x, val_x = (train_x - mean) / std, (val_x - mean) / std
    loaded = time.perf_counter()
    clf = LogisticRegression(max_iter=args.max_iter)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        clf.fit(train_x, train_y)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    trained = time.perf_counter()
    acc, f1 = common.scores(val_y, clf.predict(val_x), len(meta["labels"]))
    done = time.perf_counter()
    common.emit({
        "impl": "sklearn", "task": args.task, "recipe": "logreg-raw" if args.raw else "logreg",
        "threads": args.threads, "train_rows": int(len(train_y)), "val_rows": int(len(val_y)),
        "iterations": int(max(clf.n_iter_)), "converged": converged,
        "load_s": loaded - start, "train_s": trained - loaded, "eval_s": done - trained, "total_s": done - start,
        "peak_rss_mib": common.status_mib("VmHWM"), "growth_mib": common.status_mib("VmHWM") - base,
        "val_accuracy": acc, "val_macro_f1": f1, "sklearn": sklearn.__version__,
    })


if __name__ == "__main__":
    main()
