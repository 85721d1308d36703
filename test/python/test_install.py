"""The documented Python install: `pip install ./python` in a fresh virtual
environment that sees the system's numpy, offline, then the example host
run from that environment with no DIFFGUARD_LIBRARY and no PYTHONPATH, so
the package must load the library it carries.

Needs DIFFGUARD_LIBRARY (the built library, which the wheel takes: the
build directory need not be the README's build/), DG_FIXTURE_DIR and
DG_EXPECTED_VERSION."""
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


class Install(unittest.TestCase):
    def test_pip_install_in_a_fresh_venv(self):
        fixture = os.environ["DG_FIXTURE_DIR"]
        images = [os.path.join(fixture, "image%d.png" % i) for i in range(8)]
        example = [os.path.join(ROOT, "examples", "python", "validate.py"),
                   os.path.join(fixture, "student.dgm"),
                   os.path.join(fixture, "guard.dg")] + images
        with tempfile.TemporaryDirectory() as tmp:
            venv = os.path.join(tmp, "venv")
            subprocess.run([sys.executable, "-m", "venv",
                            "--system-site-packages", venv], check=True)
            python = os.path.join(venv, "bin", "python")
            # --no-index: the install must not need the network.
            subprocess.run([python, "-m", "pip", "install", "--quiet",
                            "--no-index", os.path.join(ROOT, "python")],
                           check=True, cwd=tmp)
            env = dict(os.environ)
            for name in ("DIFFGUARD_LIBRARY", "PYTHONPATH"):
                env.pop(name, None)
            installed = subprocess.run(
                [python] + example, env=env, cwd=tmp, check=True,
                stdout=subprocess.PIPE, universal_newlines=True).stdout
            where, version = subprocess.run(
                [python, "-c", "import diffguard, importlib.metadata as m; "
                 "print(diffguard._capi.lib._name); "
                 "print(m.version('diffguard'))"], env=env, cwd=tmp,
                check=True, stdout=subprocess.PIPE,
                universal_newlines=True).stdout.split()
        # The same example on the binding of the source tree.
        from_tree = subprocess.run([sys.executable] + example, check=True,
                                   stdout=subprocess.PIPE,
                                   universal_newlines=True).stdout
        self.assertTrue(where.startswith(venv), where)
        self.assertEqual(version, os.environ["DG_EXPECTED_VERSION"])
        self.assertEqual(installed, from_tree)
        self.assertEqual(len(installed.splitlines()), len(images))


if __name__ == "__main__":
    unittest.main()
