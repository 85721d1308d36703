"""PyTorch peer of bench_train.c: the same architecture, batch, optimiser,
loss and data (Fashion-MNIST classes 0-4), timed the same way."""
import gzip
import json
import sys
import time

import numpy as np
import torch
import torch.nn as nn

threads = int(sys.argv[1])
images = int(sys.argv[2]) if len(sys.argv) > 2 else 6400
root = "/usr/share/datasets/fashion-mnist"
torch.set_num_threads(threads)
torch.manual_seed(1)

with gzip.open(f"{root}/train-images-idx3-ubyte.gz") as f:
    x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
with gzip.open(f"{root}/train-labels-idx1-ubyte.gz") as f:
    y = np.frombuffer(f.read(), np.uint8, offset=8)
keep = np.concatenate([np.where(y == c)[0][: images // 5] for c in range(5)])
keep.sort()
x = torch.tensor(x[keep], dtype=torch.float32) / 255.0
y = torch.tensor(y[keep], dtype=torch.long)

model = nn.Sequential(
    nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(),
    nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.Conv2d(64, 64, 3),
    nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1024, 256), nn.ReLU(),
    nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 5))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()


def epoch(xs, ys):
    order = torch.randperm(len(xs))
    for i in range(0, len(xs), 64):
        idx = order[i:i + 64]
        opt.zero_grad()
        loss = loss_fn(model(xs[idx]), ys[idx])
        loss.backward()
        opt.step()


epoch(x[:64], y[:64])  # warm-up
t0 = time.perf_counter()
epoch(x, y)
dt = time.perf_counter() - t0
print(json.dumps({"impl": "pytorch " + torch.__version__, "images": len(x),
                  "seconds": round(dt, 3),
                  "images_per_second": round(len(x) / dt, 1)}))
