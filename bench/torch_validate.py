"""PyTorch peer of bench_validate.c: the Student plus M = 5 differentiators
of the same architecture, each a whole model run on every input (the
straightforward two-phase implementation), in eval mode without autograd."""
import json
import sys
import time

import torch
import torch.nn as nn

threads = int(sys.argv[1])
torch.set_num_threads(threads)
torch.manual_seed(0)


def student():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(1024, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
        nn.Linear(128, 5)).eval()


models = [student() for _ in range(6)]


@torch.no_grad()
def validate(x):
    label = models[0](x).argmax(1)
    votes = sum((m(x).argmax(1) == label).int() for m in models[1:])
    return label, votes


single = torch.rand(1, 1, 28, 28)
for _ in range(200):
    validate(single)
lat = []
for _ in range(1000):
    a = time.perf_counter()
    validate(single)
    lat.append(time.perf_counter() - a)
lat.sort()
batch = torch.rand(64, 1, 28, 28)
for _ in range(5):
    validate(batch)
a = time.perf_counter()
for _ in range(40):
    validate(batch)
per_image = (time.perf_counter() - a) / (40 * 64)
print(json.dumps({"impl": "pytorch " + torch.__version__,
                  "batch1_p50_ms": round(lat[500] * 1e3, 4),
                  "batch1_p99_ms": round(lat[990] * 1e3, 4),
                  "batch64_ms_per_image": round(per_image * 1e3, 4)}))
