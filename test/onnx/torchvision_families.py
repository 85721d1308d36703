#!/usr/bin/python3
"""torchvision's CNN families (issue #14) exported by torch.onnx and
imported by libdiffguard, logits against PyTorch's.

The exports are too large to commit (ResNet-50 alone is ~95 MB), so they
are made at test time: random weights (fixed seeds), eval mode, batch-norm
statistics set to random values, opset 13, 3 x 64 x 64 inputs.  Run with
Debian's interpreter, which has python3-torch and python3-torchvision:

    /usr/bin/python3 test/onnx/torchvision_families.py          # the test
    /usr/bin/python3 test/onnx/torchvision_families.py OUTDIR   # keep files

With OUTDIR it writes NAME.onnx, NAME.input.f32 and NAME.output.f32 (as
make_fixtures.py does) and checks nothing.  As a test it needs the binding
(PYTHONPATH=python, DIFFGUARD_LIBRARY) and exits 77 (skipped) without
torch or torchvision.  A family in REFUSED must fail to import with the
message given there (doc/onnx.md, "Out of scope")."""
import io
import os
import sys

try:
    import torch
    import torchvision
    from torch import nn
except ImportError as e:  # not every machine has PyTorch
    print("skipped: %s" % e)
    sys.exit(77)

SIDE = 64
SAMPLES = 2
CLASSES = 10


def vgg11_bn():
    """At 64 x 64 the features end 2 x 2, which torch.onnx cannot pool
    adaptively to VGG's 7 x 7: the pooling is dropped and the first
    classifier layer reads the 2 x 2 map instead (the rest is VGG's)."""
    m = torchvision.models.vgg11_bn(num_classes=CLASSES)
    m.avgpool = nn.Identity()
    m.classifier[0] = nn.Linear(512 * 2 * 2, 4096)
    return m


def models():
    tv = torchvision.models
    return {
        "resnet18": lambda: tv.resnet18(num_classes=CLASSES),
        "resnet50": lambda: tv.resnet50(num_classes=CLASSES),
        "vgg11_bn": vgg11_bn,
        "mobilenet_v2": lambda: tv.mobilenet_v2(num_classes=CLASSES),
        "squeezenet1_1": lambda: tv.squeezenet1_1(num_classes=CLASSES),
        "googlenet": lambda: tv.googlenet(num_classes=CLASSES,
                                          aux_logits=False,
                                          init_weights=True),
        "densenet121": lambda: tv.densenet121(num_classes=CLASSES),
        "efficientnet_b0": lambda: tv.efficientnet_b0(num_classes=CLASSES),
        "mobilenet_v3_small":
            lambda: tv.mobilenet_v3_small(num_classes=CLASSES),
        "shufflenet_v2_x0_5":
            lambda: tv.shufflenet_v2_x0_5(num_classes=CLASSES),
    }


# Families whose export uses what the import leaves out, with the
# refusal.  ShuffleNet reads its own shape (Shape, Gather, Unsqueeze,
# Concat of sizes) to split channels and shuffle them through a 5-D
# Reshape and a Transpose; the first of these refused is Shape.
REFUSED = {"shufflenet_v2_x0_5": "operator Shape is not supported"}


def make(name, build, seed):
    """The model in eval mode with random batch-norm statistics, its ONNX
    bytes, inputs and PyTorch's logits."""
    torch.manual_seed(seed)
    model = build()
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 1.5)
            nn.init.uniform_(mod.weight, 0.5, 1.5)
            nn.init.uniform_(mod.bias, -0.2, 0.2)
    model.eval()
    x = torch.rand(SAMPLES, 3, SIDE, SIDE)
    with torch.no_grad():
        logits = model(x)
    buf = io.BytesIO()
    torch.onnx.export(model, x, buf, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"},
                                    "logits": {0: "batch"}})
    return buf.getvalue(), x.numpy(), logits.numpy()


def write(outdir):
    os.makedirs(outdir, exist_ok=True)
    for seed, (name, build) in enumerate(models().items()):
        data, x, y = make(name, build, seed)
        with open(os.path.join(outdir, name + ".onnx"), "wb") as f:
            f.write(data)
        x.astype("<f4").tofile(os.path.join(outdir, name + ".input.f32"))
        y.astype("<f4").tofile(os.path.join(outdir, name + ".output.f32"))
        print(name, len(data), "bytes")


def check():
    import numpy as np

    import diffguard as dg
    failures = 0
    for seed, (name, build) in enumerate(models().items()):
        data, x, want = make(name, build, seed)
        try:
            model = dg.Model.from_onnx_bytes(data)
        except dg.DiffguardError as e:
            expected = REFUSED.get(name)
            ok = expected is not None and expected in str(e)
            print("%-20s %s: %s" % (name, "refused" if ok else "FAILED", e))
            failures += not ok
            continue
        if name in REFUSED:
            print("%-20s FAILED: imported, expected a refusal" % name)
            failures += 1
            continue
        got = model.predict(x)
        scale = float(np.abs(want).max())
        err = float(np.abs(got - want).max())
        ok = err <= 1e-4 * scale
        print("%-20s %-6s %4d layers, max error %.2e at scale %.3g"
              % (name, "ok" if ok else "FAILED", len(model.layers), err,
                 scale))
        failures += not ok
    return failures


if __name__ == "__main__":
    if len(sys.argv) > 1:
        write(sys.argv[1])
    else:
        sys.exit(1 if check() else 0)
