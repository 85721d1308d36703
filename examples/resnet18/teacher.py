#!/usr/bin/python3
"""Trains the ResNet-18 Teacher of the example with PyTorch and exports it
as ONNX, as a user would bring a public Teacher from elsewhere.

torchvision's resnet18 (random start, 5 outputs) learns the image folder
DATA (one sub-folder per class, as render.py writes it) for EPOCHS epochs
with SGD, momentum and a cosine schedule, on pixels in [0, 1] (what
libdiffguard's import assumes without metadata), then is exported in eval
mode at operator set 13 with a free batch dimension (written under
OUT.onnx.part, then renamed).  It holds out every
tenth image to report its accuracy.

Usage: teacher.py DATA OUT.onnx [--epochs 3] [--threads 2] [--seed 1]
Needs Debian's python3-torch and python3-torchvision."""
import argparse
import os
import time

import numpy as np
import torch
import torchvision
from PIL import Image


def load_folder(root):
    xs, ys = [], []
    for label, name in enumerate(sorted(os.listdir(root))):
        folder = os.path.join(root, name)
        for f in sorted(os.listdir(folder)):
            img = np.asarray(Image.open(os.path.join(folder, f)).convert("RGB"))
            xs.append(img.transpose(2, 0, 1))
            ys.append(label)
    x = torch.from_numpy(np.stack(xs).astype(np.float32) / 255.0)
    return x, torch.tensor(ys)


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        hits = sum(int((model(x[i:i + 256]).argmax(1) == y[i:i + 256]).sum())
                   for i in range(0, len(x), 256))
    return hits / len(x)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("data")
    p.add_argument("out")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    x, y = load_folder(a.data)
    held = torch.arange(len(x)) % 10 == 0
    xt, yt, xv, yv = x[~held], y[~held], x[held], y[held]
    classes = int(y.max()) + 1
    model = torchvision.models.resnet18(num_classes=classes)
    batch = 64
    steps = a.epochs * ((len(xt) + batch - 1) // batch)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9,
                          weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 0.05, total_steps=steps)
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.time()
    for epoch in range(a.epochs):
        model.train()
        order = torch.randperm(len(xt))
        total = 0.0
        for i in range(0, len(xt), batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss) * len(idx)
        print("epoch %d: loss %.4f, held-out accuracy %.4f, %.0f s"
              % (epoch + 1, total / len(xt), accuracy(model, xv, yv),
                 time.time() - start), flush=True)
    model.eval()
    side = x.shape[-1]
    part = a.out + ".part"
    torch.onnx.export(model, torch.zeros(1, 3, side, side), part,
                      opset_version=13, input_names=["image"],
                      output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"},
                                    "logits": {0: "batch"}})
    os.replace(part, a.out)
    print("wrote %s (%d classes, %d x %d)" % (a.out, classes, side, side))


if __name__ == "__main__":
    main()
