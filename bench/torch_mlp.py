"""tinyhead's training recipes in PyTorch (Debian python3-torch, CPU), on an
export of the stored embeddings (go run ./bench/export): the same rows,
labels and validation split, batch size, steps and hyperparameters as
tinyhead's trainer (internal/mlp).

  default    tinyhead's default: inputs standardised with the training rows'
             mean and standard deviation (as mlp.Scaler), Linear(dim→h) →
             ReLU → Linear(h→classes), h = max(classes // 2, 16), float32
  reference  the reference recipe of docs/design.md (Azure/elenchus): raw embeddings,
             no activation, h = max(classes // 2, 1), float64 (--dtype
             float32 for the same in single precision)

Both: CrossEntropyLoss (mean), AdamW(lr 1e-3, weight decay 1e-5,
amsgrad=True), the learning rate decayed linearly to 0 over the steps
(LambdaLR, stepped after each optimiser step), 1000 steps of 256 rows drawn
as a DataLoader(shuffle=True, drop_last=True) would: a fresh permutation
per epoch, consecutive slices of it. Batches are sliced from one in-memory
tensor (the fast path; a DataLoader over a TensorDataset collates row by
row and is several times slower).

Each seed's run reports load (files → tensors, standardisation included),
train and evaluation seconds, peak RSS (VmHWM, reset before loading) and
its growth over the RSS before loading, validation accuracy and macro-F1,
one JSON line each on stdout.

  /usr/bin/python3 bench/torch_mlp.py --export DIR --task spam --recipe default --threads 2 --seeds 0,1,2
"""
import argparse
import os
import time

import common


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--export", required=True)
    ap.add_argument("--task", required=True)
    ap.add_argument("--recipe", choices=["default", "reference"], default="default")
    ap.add_argument("--dtype", choices=["float32", "float64"], default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    dtype_name = args.dtype or ("float32" if args.recipe == "default" else "float64")

    # Threads: torch's intra-op pool and OpenBLAS's (which runs torch's
    # CPU matrix products here) get the same count.
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    t0 = time.perf_counter()
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    import_s = time.perf_counter() - t0
    dtype = getattr(torch, dtype_name)

    # Warm-up (not timed): thread pools and first-call paths.
    warm = torch.nn.Linear(8, 2).to(dtype)
    for _ in range(3):
        warm(torch.zeros(4, 8, dtype=dtype)).sum().backward()

    for seed in [int(s) for s in args.seeds.split(",")]:
        common.reset_peak()
        base = common.status_mib("VmRSS")
        start = time.perf_counter()
        meta, x, y, is_val = common.load_export(args.export, args.task)
        classes = len(meta["labels"])
        train_x, train_y = x[~is_val], y[~is_val]
        val_x, val_y = x[is_val], y[is_val]
        if args.recipe == "default":
            # mlp.Scaler: float64 sums, population std, std < 1e-6 → 1.
            mean = train_x.mean(axis=0, dtype=np.float64)
            std = train_x.std(axis=0, dtype=np.float64)
            std[std < 1e-6] = 1
            train_x = ((train_x - mean) / std).astype(np.float32)
            val_x = ((val_x - mean) / std).astype(np.float32)
        X = torch.from_numpy(np.ascontiguousarray(train_x)).to(dtype)
        Y = torch.from_numpy(train_y)
        VX = torch.from_numpy(np.ascontiguousarray(val_x)).to(dtype)
        loaded = time.perf_counter()

        torch.manual_seed(seed)
        if args.recipe == "default":
            hidden = max(classes // 2, 16)
            layers = [torch.nn.Linear(meta["dim"], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, classes)]
        else:
            hidden = max(classes // 2, 1)
            layers = [torch.nn.Linear(meta["dim"], hidden), torch.nn.Linear(hidden, classes)]
        model = torch.nn.Sequential(*layers).to(dtype)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-5, amsgrad=True)
        steps = args.steps
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: max(0.0, (steps - t) / steps))
        loss_fn = torch.nn.CrossEntropyLoss()
        gen = torch.Generator().manual_seed(seed)
        n, b = X.shape[0], min(args.batch, X.shape[0])
        step, losses = 0, []
        while step < steps:
            perm = torch.randperm(n, generator=gen)
            for i in range(0, n - b + 1, b):
                if step == steps:
                    break
                idx = perm[i:i + b]
                opt.zero_grad()
                loss = loss_fn(model(X[idx]), Y[idx])
                loss.backward()
                opt.step()
                sched.step()
                step += 1
        last_loss = float(loss.item())
        trained = time.perf_counter()

        with torch.no_grad():
            pred = model(VX).argmax(dim=1).numpy()
        acc, f1 = common.scores(val_y, pred, classes)
        done = time.perf_counter()
        common.emit({
            "impl": "torch", "task": args.task, "recipe": args.recipe, "dtype": dtype_name,
            "threads": args.threads, "seed": seed, "hidden": hidden, "steps": steps, "batch": b,
            "train_rows": int(n), "val_rows": int(len(val_y)),
            "import_s": import_s, "load_s": loaded - start, "train_s": trained - loaded,
            "eval_s": done - trained, "total_s": done - start,
            "peak_rss_mib": common.status_mib("VmHWM"), "growth_mib": common.status_mib("VmHWM") - base,
            "val_accuracy": acc, "val_macro_f1": f1, "final_loss": last_loss,
            "torch": torch.__version__,
        })


if __name__ == "__main__":
    main()
