#!/usr/bin/python3
"""Builds the ONNX fixtures of test/test_onnx.c with PyTorch (torch only).

Run with Debian's interpreter, which has python3-torch:

    /usr/bin/python3 test/onnx/make_fixtures.py

For each model NAME it writes, into test/data/onnx/:
  NAME.onnx         torch.onnx.export, opset 13, dynamic batch axis
  NAME.input.f32    a few random inputs, raw little-endian float32 (NCHW)
  NAME.output.f32   PyTorch's outputs for them, raw little-endian float32
Seeds are fixed, so a rerun writes the same weights and inputs.
"""
import os

import torch
from torch import nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data",
                   "onnx")
SAMPLES = 4


def trunk(c1, c2):
    """conv, relu, conv, relu, maxpool, twice: 1x28x28 -> c2 x 4 x 4."""
    return [nn.Conv2d(1, c1, 3), nn.ReLU(), nn.Conv2d(c1, c1, 3), nn.ReLU(),
            nn.MaxPool2d(2), nn.Conv2d(c1, c2, 3), nn.ReLU(),
            nn.Conv2d(c2, c2, 3), nn.ReLU(), nn.MaxPool2d(2)]


def teacher():
    """The default Teacher, DG_ARCH_FMNIST_TEACHER, exactly."""
    return nn.Sequential(*trunk(32, 64), nn.Flatten(), nn.Linear(1024, 256),
                         nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 5)), (1, 28, 28)


class Student(nn.Module):
    """A narrower trunk of the Teacher's shape with a Linear(128, 5) head;
    view() exports as Reshape fed by a Constant."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(*trunk(8, 16))
        self.hidden = nn.Sequential(nn.Linear(256, 64), nn.ReLU(),
                                    nn.Linear(64, 128), nn.ReLU())
        self.head = nn.Linear(128, 5)

    def forward(self, x):
        return self.head(self.hidden(self.trunk(x).view(-1, 256)))


class Blocks(nn.Module):
    """Batch norm (after ReLU and Add, where export keeps it, and on
    features), a residual Add, a stride-2 conv, average pooling with
    padding (excluded from the mean) and global average pooling."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                  nn.BatchNorm2d(8))
        self.branch = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                                    nn.Conv2d(8, 8, 3, padding=1))
        self.after = nn.BatchNorm2d(8)
        self.down = nn.Sequential(
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(16, 12), nn.BatchNorm1d(12),
                                  nn.ReLU(), nn.Linear(12, 4))

    def forward(self, x):
        x = self.stem(x)
        x = self.after(torch.relu(x + self.branch(x)))
        return self.head(self.down(x))


class Softmax(nn.Module):
    """Features in ([N, 20]), probabilities out; x @ w + b exports as
    MatMul followed by Add."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(20, 32), nn.ReLU(),
                                    nn.Dropout(0.3))
        self.w = nn.Parameter(torch.randn(32, 6) * 0.3)
        self.b = nn.Parameter(torch.randn(6))

    def forward(self, x):
        return torch.softmax(self.hidden(x) @ self.w + self.b, dim=1)


def channel_softmax():
    """A 4-D output: max pooling with padding, softmax over channels."""
    return nn.Sequential(nn.Conv2d(2, 6, 3, padding=1),
                         nn.MaxPool2d(3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(6, 3, 1), nn.Softmax(dim=1)), (2, 10, 10)


def randomise_batchnorm(model):
    """Non-trivial statistics, so that a wrong mapping shows."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.weight.data = torch.rand(n) + 0.5
            m.bias.data = torch.randn(n) * 0.2
            m.running_mean = torch.randn(n) * 0.2
            m.running_var = torch.rand(n) + 0.5


def write(path, tensor):
    with open(path, "wb") as f:
        f.write(tensor.detach().contiguous().numpy().astype("<f4").tobytes())


def export(name, model, shape, seed):
    torch.manual_seed(seed)
    randomise_batchnorm(model)
    model.eval()
    x = torch.rand(SAMPLES, *shape)
    with torch.no_grad():
        y = model(x)
    base = os.path.join(OUT, name)
    torch.onnx.export(model, x, base + ".onnx", opset_version=13,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"},
                                    "output": {0: "batch"}})
    write(base + ".input.f32", x)
    write(base + ".output.f32", y)
    print(f"{name}: {os.path.getsize(base + '.onnx')} bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    makers = [("teacher", teacher),
              ("student", lambda: (Student(), (1, 28, 28))),
              ("blocks", lambda: (Blocks(), (3, 16, 16))),
              ("softmax", lambda: (Softmax(), (20,))),
              ("channel_softmax", channel_softmax)]
    for seed, (name, make) in enumerate(makers, start=1):
        torch.manual_seed(seed)
        model, shape = make()
        export(name, model, shape, seed + 100)


if __name__ == "__main__":
    main()
