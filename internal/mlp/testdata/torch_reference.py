"""Reference values for TestTorchReference (internal/mlp/reference_test.go).

The reference recipe in PyTorch (1.13, float64): Linear → [ReLU] → Linear,
CrossEntropyLoss (mean), AdamW (amsgrad as configured), and transformers'
get_linear_schedule_with_warmup with no warm-up, written out as a LambdaLR.
Run with Debian's python3-torch:

    /usr/bin/python3 torch_reference.py > torch_reference.json
"""
import json

import torch

DIM, HIDDEN, CLASSES = 5, 3, 3
ROWS, STEPS = 70, 4  # 70 rows: two of the Go trainer's shards
LR, WD = 0.05, 0.1


def case(name, relu, amsgrad, seed):
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(DIM, HIDDEN)]
    if relu:
        layers.append(torch.nn.ReLU())
    layers.append(torch.nn.Linear(HIDDEN, CLASSES))
    model = torch.nn.Sequential(*layers).double()
    first, second = layers[0], layers[-1]
    init = [first.weight, first.bias, second.weight, second.bias]
    init = [p.detach().clone().flatten().tolist() for p in init]

    # Inputs are float32 values, as stored embeddings are.
    batches = [
        (torch.randn(ROWS, DIM).float().double(), torch.randint(0, CLASSES, (ROWS,)))
        for _ in range(STEPS)
    ]
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WD, amsgrad=amsgrad)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: max(0.0, float(STEPS - step) / float(max(1, STEPS)))
    )
    loss_fn = torch.nn.CrossEntropyLoss()
    losses = []
    for x, y in batches:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    final = [first.weight, first.bias, second.weight, second.bias]
    return {
        "name": name,
        "relu": relu,
        "amsgrad": amsgrad,
        "init": [v for p in init for v in p],
        "x": [[v for row in x.tolist() for v in row] for x, _ in batches],
        "y": [y.tolist() for _, y in batches],
        "loss": losses,
        "final": [v for p in final for v in p.detach().flatten().tolist()],
    }


print(json.dumps({
    "torch": torch.__version__,
    "dim": DIM, "hidden": HIDDEN, "classes": CLASSES, "rows": ROWS, "steps": STEPS,
    "lr": LR, "weight_decay": WD,
    "cases": [
        case("relu amsgrad", True, True, 1),
        case("none amsgrad", False, True, 2),
        case("relu adam", True, False, 3),
    ],
}, separators=(",", ":")))
