"""Turns one run of scripts/bench.sh (its output directory) into the
markdown tables of BENCHMARKS.md, with every ratio computed from figures
measured side by side in that run.

  /usr/bin/python3 bench/report.py OUTDIR > OUTDIR/tables.md
"""
import json
import os
import re
import statistics
import sys

BENCH = re.compile(r"^(Benchmark\S+?)(?:-(\d+))?\s+(\d+)\s+(.*)$")


def go_bench(path):
    """{(name, procs): {unit: value}} from `go test -bench` output."""
    out = {}
    if not os.path.exists(path):
        return out
    for line in open(path):
        m = BENCH.match(line.strip())
        if not m:
            continue
        name, procs, rest = m.group(1), int(m.group(2) or 1), m.group(4).split()
        metrics = {rest[i + 1]: float(rest[i]) for i in range(0, len(rest) - 1, 2)}
        out[(name, procs)] = metrics
    return out


def jsonl(path):
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.startswith("{")]


def mean(xs):
    return statistics.fmean(xs) if xs else float("nan")


def f(v, digits=2):
    if v is None or v != v:
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def pct(v):
    return "–" if v is None or v != v else f"{100 * v:.2f}%"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main(out):
    ingest = go_bench(os.path.join(out, "go-ingest.txt"))
    reembed = go_bench(os.path.join(out, "go-reembed.txt"))
    store = go_bench(os.path.join(out, "go-sqlstore.txt"))
    mlp = go_bench(os.path.join(out, "go-mlp.txt"))
    training = go_bench(os.path.join(out, "go-training.txt"))
    scaling = go_bench(os.path.join(out, "go-scaling.txt"))
    torch = jsonl(os.path.join(out, "torch.jsonl"))
    sk = jsonl(os.path.join(out, "sklearn.jsonl"))
    ft = jsonl(os.path.join(out, "fasttext.jsonl"))
    doc = []

    # Embedding.
    e = next((v for (n, _), v in ingest.items() if n == "BenchmarkEmbedThroughput"), None)
    model_rate = e["model-texts/s"] if e else None
    ingest_rate = e["ingest-texts/s"] if e else None
    if e:
        doc.append("### Embedding: raw model vs end-to-end ingest\n")
        doc.append(table(["path", "texts/s"], [
            ["raw model inference (tokenize + ONNX Runtime)", f(e["model-texts/s"], 1)],
            ["end-to-end ingest (blob → parse → embed → SQL)", f(e["ingest-texts/s"], 1)],
            ["**ratio ingest / model**", f"**{e['ingest/model']:.2f}** (target ≥ 0.9)"],
        ]))

    r = next((v for (n, _), v in reembed.items() if n == "BenchmarkReembedSpamAssassin"), None)
    if r:
        doc.append("### Re-embedding stored texts: raw model vs Reembed\n")
        doc.append(table(["path", "texts/s"], [
            [f"raw model inference on the same {r['texts']:,.0f} texts (batches of 128)", f(r["model-texts/s"], 1)],
            ["re-embedding (claim → read texts → embed → store vectors)", f(r["reembed-texts/s"], 1)],
            ["**ratio re-embed / model**", f"**{r['reembed/model']:.2f}**"],
        ]))

    # Store.
    rows = []
    for (n, _), v in sorted(store.items()):
        name = n.replace("BenchmarkPutDocuments/", "write ").replace("BenchmarkReadEmbeddings/", "read embeddings ")
        rows.append([name.replace("/", ", "), f(v["rows/s"], 0)])
    if rows:
        doc.append("### Store\n")
        doc.append(table(["operation", "rows/s"], rows))

    # Trainer, synthetic.
    rows = []
    for (n, _), v in mlp.items():
        if n.startswith(("BenchmarkTrain", "BenchmarkPrecision")):
            rows.append([n.replace("Benchmark", ""), f(v["ns/op"] / 1e9, 3), f(v.get("allocs/op"), 0), f(v.get("val-accuracy"), 4)])
    if rows:
        doc.append("### Trainer on synthetic rows\n")
        doc.append(table(["benchmark", "s / run", "allocations / run", "validation accuracy"], rows))

    # SpamAssassin, stored.
    rows = []
    for (n, p), v in training.items():
        if n.startswith("BenchmarkTrainStored/") and p == 2:
            task, mode = n.split("/")[1:3]
            rows.append([task, mode, f(v["val-accuracy"], 4), f(v["val-macro-F1"], 4), f"{v['load-s']:.2f} ({v['load-rows/s']:,.0f})",
                         f(v["train-s"]), f"{v['peak-RSS-MiB']:.0f} MiB (+{v['peak-growth-MiB']:.0f})"])
    if rows:
        doc.append("### Training on SpamAssassin (stored embeddings, default recipe, seed 0)\n")
        doc.append(table(["task", "mode", "validation accuracy", "macro-F1", "load s (rows/s)", "train s", "peak RSS (growth)"], rows))

    # Training vs PyTorch.
    go_runs = {}
    for (n, p), v in training.items():
        if n.startswith("BenchmarkRecipes/"):
            _, task, recipe, seed = n.split("/")
            go_runs.setdefault((task, recipe, p), []).append(v)
    t_runs = {}
    for r in torch:
        t_runs.setdefault((r["task"], r["recipe"], r["dtype"], r["threads"]), []).append(r)
    rows, summary = [], []
    for task in ["spam", "group"]:
        for recipe in ["default", "reference"]:
            entries = []
            for procs in (2, 1):
                g = go_runs.get((task, recipe, procs))
                if g:
                    entries.append(("tinyhead (Go, float32)", f"{procs}", mean([x["train-s"] for x in g]), mean([x["total-s"] for x in g]),
                                    mean([x["peak-RSS-MiB"] for x in g]), mean([x["peak-growth-MiB"] for x in g]),
                                    mean([x["val-accuracy"] for x in g]), mean([x["val-macro-F1"] for x in g]), len(g)))
            for dtype in ("float32", "float64"):
                for threads in (1, 2):
                    t = t_runs.get((task, recipe, dtype, threads))
                    if t:
                        entries.append((f"PyTorch {t[0]['torch'].split('a')[0]} ({dtype})", f"{threads}", mean([x["train_s"] for x in t]),
                                        mean([x["total_s"] for x in t]), mean([x["peak_rss_mib"] for x in t]),
                                        mean([x["growth_mib"] for x in t]), mean([x["val_accuracy"] for x in t]),
                                        mean([x["val_macro_f1"] for x in t]), len(t)))
            if not entries:
                continue
            go_best = min((e for e in entries if e[0].startswith("tinyhead")), key=lambda e: e[2], default=None)
            go2 = next((e for e in entries if e[0].startswith("tinyhead") and e[1] == "2"), go_best)
            torch_ref_dtype = "float32" if recipe == "default" else "float64"
            torch_best = min((e for e in entries if e[0].startswith("PyTorch") and torch_ref_dtype in e[0]), key=lambda e: e[2], default=None)
            for e in entries:
                ratio = f"{e[2] / go2[2]:.1f}×" if go2 and not e[0].startswith("tinyhead") else "1.00" if e is go2 else f"{e[2] / go2[2]:.2f}×"
                rows.append([task, recipe, e[0], e[1], f(e[2]), ratio, f(e[3]), f"{e[4]:.0f} (+{e[5]:.0f})", pct(e[6]), pct(e[7]), e[8]])
            if go2 and torch_best:
                summary.append([task, recipe, f(go2[2]), f"{torch_best[2]:.2f} ({torch_best[1]} thread{'s' if torch_best[1] != '1' else ''})",
                                f"**{torch_best[2] / go2[2]:.1f}×**", f"{torch_best[3] / go2[3]:.1f}×", pct(go2[6]), pct(torch_best[6]),
                                f"{100 * (go2[6] - torch_best[6]):+.2f}"])
    if rows:
        doc.append("### Training vs PyTorch (same exported rows, split, batches of 256, 1000 steps, hyperparameters; mean of seeds)\n")
        doc.append(table(["task", "recipe", "implementation", "threads", "train s", "train time / tinyhead (2)", "total s (load+train+eval)",
                          "peak RSS MiB (growth)", "val accuracy", "macro-F1", "seeds"], rows))
        doc.append("Summary (tinyhead with 2 workers vs PyTorch at its faster thread count; the reference recipe in PyTorch's float64):\n")
        doc.append(table(["task", "recipe", "tinyhead train s", "PyTorch train s", "PyTorch / tinyhead (train)", "(total)",
                          "tinyhead accuracy", "PyTorch accuracy", "difference (points)"], summary))

    # scikit-learn.
    rows = []
    for r in sk:
        g = go_runs.get((r["task"], "default", 2))
        rows.append([r["task"], "standardised" if r["recipe"] == "logreg" else "raw", r["iterations"], f(r["train_s"]),
                     f"{r['train_s'] / mean([x['train-s'] for x in g]):.1f}×" if g else "–", f"{r['peak_rss_mib']:.0f} (+{r['growth_mib']:.0f})",
                     pct(r["val_accuracy"]), pct(r["val_macro_f1"]),
                     f"{100 * (mean([x['val-accuracy'] for x in g]) - r['val_accuracy']):+.2f}" if g else "–"])
    if rows:
        doc.append("### scikit-learn LogisticRegression (lbfgs, C=1, same rows and split)\n")
        doc.append(table(["task", "inputs", "iterations", "fit s", "fit time / tinyhead train", "peak RSS MiB (growth)",
                          "val accuracy", "macro-F1", "tinyhead default − logreg (points)"], rows))

    # fastText.
    rows = []
    for task in ["spam", "group"]:
        g = go_runs.get((task, "default", 2))
        for r in [x for x in ft if x["task"] == task]:
            rows.append([task, f"fastText {r['recipe']}", f(r["train_s"]), "–", f"{r['peak_rss_mib']:.0f}", f"{r['model_mib']:.1f}",
                         pct(r["val_accuracy"]), pct(r["val_macro_f1"])])
        if g and ingest_rate:
            n = g[0]["rows"]
            embed_s = n / ingest_rate
            retrain = mean([x["total-s"] for x in g])
            rows.append([task, "tinyhead: first training (ingest all texts + train)", f"{embed_s + retrain:.1f}",
                         f"{embed_s:.1f} s ingest ({n:,.0f} texts at the measured {ingest_rate:.1f}/s end to end; "
                         f"{n / model_rate:.1f} s at the model's {model_rate:.1f}/s) + {retrain:.2f} s", "–", "–",
                         pct(mean([x["val-accuracy"] for x in g])), pct(mean([x["val-macro-F1"] for x in g]))])
            rows.append([task, "tinyhead: retrain from stored embeddings", f(retrain), "load + train + evaluate", f"{mean([x['peak-RSS-MiB'] for x in g]):.0f}",
                         "0.03", pct(mean([x["val-accuracy"] for x in g])), pct(mean([x["val-macro-F1"] for x in g]))])
    if rows:
        doc.append("### vs fastText (raw texts of the same split; tinyhead: mean of seeds 0–2)\n")
        doc.append(table(["task", "system", "seconds", "of which", "peak RSS MiB", "model MiB", "val accuracy", "macro-F1"], rows))

    # Scaling.
    rows = []
    writes, scans = {}, {}
    for (n, _), v in scaling.items():
        parts = n.split("/")
        if len(parts) < 3:
            continue
        size = int(parts[1].split("=")[1])
        if parts[2] == "write":
            writes[size] = v["write-rows/s"]
        elif parts[2] == "scan-labeled":
            scans[size] = v["scan-s"]
        else:
            rows.append([f"{size:,}", parts[2], f"{v['load-s']:.2f}", f"{v['train-s']:.2f}", f"{v['total-s']:.2f}",
                         f"{v['peak-RSS-MiB']:.0f} (+{v['peak-growth-MiB']:.0f})", pct(v["val-accuracy"])])
    if rows:
        doc.append("### Scaling (synthetic 512-d rows, 10 classes, default recipe)\n")
        doc.append(table(["rows", "mode", "load s", "train s", "total s", "peak RSS MiB (growth)", "val accuracy"], rows))
        doc.append(table(["rows", "written through PutDocuments (rows/s)", "ScanLabeled on SQLite (s)"],
                         [[f"{s:,}", f(writes.get(s), 0), f(scans.get(s)) if s in scans else "not run"] for s in sorted(writes)]))
    features_table(out, doc)
    print("\n".join(doc))


def spread(xs, fmt):
    """Mean (min–max) of a list of figures, "–" for none."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    if len(xs) == 1 or min(xs) == max(xs):
        return fmt(mean(xs))
    return f"{fmt(mean(xs))} ({fmt(min(xs))}–{fmt(max(xs))})"


def features_table(out, doc):
    """The lexical-features comparison (scripts/bench.sh --only features):
    tinyhead's features beside TF-IDF + LR and tuned fastText, same split."""
    runs = jsonl(os.path.join(out, "features.jsonl"))
    if not runs:
        return
    backfill = [r for r in runs if r["impl"] == "tinyhead-backfill"]
    rows = []
    p = lambda v: f"{100 * v:.2f}"
    s = lambda v: f"{v:.2f}"
    for task in ["spam", "group", "hardham"]:
        for feat in ["embedding", "sketch", "both"]:
            g = [r for r in runs if r["impl"] == "tinyhead" and r["task"] == task and r["features"] == feat]
            if g:
                cpu = [r.get("total_cpu_s") for r in g]
                rows.append([task, f"tinyhead {feat}", len(g), spread([r["val_accuracy"] for r in g], p),
                             spread([r["val_macro_f1"] for r in g], p), spread([r.get("val_positive_f1") for r in g], p),
                             spread([r.get("val_log_loss") for r in g], lambda v: f"{v:.3f}"),
                             spread([r["train_s"] for r in g], s) + (f" (whole call: {spread(cpu, s)} CPU s)" if None not in cpu else "")])
        lr = [r for r in runs if r["impl"] == "tfidf-logreg" and r["task"] == task]
        if lr:
            rows.append([task, f"TF-IDF + LR (C={lr[0]['C']:g} by {lr[0].get('folds', 5)}-fold CV)", len(lr), spread([r["val_accuracy"] for r in lr], p),
                         spread([r["val_macro_f1"] for r in lr], p), spread([r.get("val_positive_f1") for r in lr], p), "–",
                         f"{spread([r['train_s'] for r in lr], s)} (+{spread([r['search_s'] for r in lr], s)} search)"])
        ft = [r for r in runs if r["impl"] == "fasttext" and r["task"] == task]
        if ft:
            rows.append([task, "fastText tuned", len(ft), spread([r["val_accuracy"] for r in ft], p),
                         spread([r["val_macro_f1"] for r in ft], p), spread([r.get("val_positive_f1") for r in ft], p), "–",
                         spread([r["train_s"] for r in ft], s)])
    doc.append("### Lexical sketch features (validation %, mean (min–max) over runs; train s on 2 cores)\n")
    doc.append(table(["task", "system", "runs", "accuracy", "macro-F1", "positive-class F1", "log-loss", "train s"], rows))
    if backfill:
        doc.append("Backfill (sketching the stored texts once): " + ", ".join(
            f"{r['task']} {r['texts']:,} texts in {r['seconds']:.2f} s" for r in backfill) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
