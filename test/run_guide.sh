#!/usr/bin/env bash
# run_guide.sh - runs every ```sh block of doc/getting-started.md, in order
# and as written, from the repository root, after the README's build and
# tests.  CI runs it (.ci/run) on its fresh machine; it is not a meson test
# because the guide installs as root into /usr/local and into $HOME/.local.
#
# The guide's one placeholder, IMAGE.png ("your own 28x28 image"), is made
# here: the first Fashion-MNIST test image of a Student class.  `dg validate`
# exits 1 when it rejects an image, which is an answer, not a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 - doc/getting-started.md >"${TMPDIR:-/tmp}/guide.sh" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
blocks = re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M)
if not blocks:
    sys.exit("no ```sh blocks in " + sys.argv[1])
for block in blocks:
    # One command per logical line: a trailing backslash continues it.
    for command in re.split(r"(?<!\\)\n", block.strip()):
        if command.startswith("build/tools/dg/dg validate"):
            command += " || [ $? -eq 1 ]"
        print(command)
PY

python3 - IMAGE.png <<'PY'
import gzip, struct, sys, zlib
images = gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").read()
labels = gzip.open("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").read()
k = next(i for i, label in enumerate(labels[8:]) if label >= 5)
pixels = images[16 + 784 * k:16 + 784 * (k + 1)]
rows = b"".join(b"\0" + pixels[28 * y:28 * (y + 1)] for y in range(28))
def chunk(tag, data):
    return (struct.pack(">I", len(data)) + tag + data +
            struct.pack(">I", zlib.crc32(tag + data)))
open(sys.argv[1], "wb").write(
    b"\x89PNG\r\n\x1a\n" +
    chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0)) +
    chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
PY

echo "running the $(grep -c . "${TMPDIR:-/tmp}/guide.sh") commands of doc/getting-started.md"
OMP_WAIT_POLICY=passive bash -euxo pipefail "${TMPDIR:-/tmp}/guide.sh"
echo "doc/getting-started.md: every command ran"
