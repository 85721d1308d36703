"""Finding and loading the library: DIFFGUARD_LIBRARY, a library next to
the package (test_install.py installs it there), the ABI check and
the errors when nothing fits.  Each case imports the package in a child
process with its own environment.

Needs DIFFGUARD_LIBRARY (the built library), DG_FAKE_ABI_LIBRARY (one
claiming ABI 2) and DG_EXPECTED_VERSION (the project's version)."""
import ctypes.util
import os
import subprocess
import sys
import unittest

import diffguard as dg

PACKAGE_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "..", "..", "python")


def child(code, pythonpath, library=None):
    """Runs code in a child interpreter; returns (exit status, out, err)."""
    env = dict(os.environ, PYTHONPATH=pythonpath)
    env.pop("DIFFGUARD_LIBRARY", None)
    if library:
        env["DIFFGUARD_LIBRARY"] = library
    run = subprocess.run([sys.executable, "-c", code], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True)
    return run.returncode, run.stdout, run.stderr


class Loading(unittest.TestCase):
    def test_library_from_the_environment(self):
        status, out, _ = child("import diffguard as d; "
                               "print(d.library_version())", PACKAGE_SOURCE,
                               os.environ["DIFFGUARD_LIBRARY"])
        self.assertEqual((status, out.strip()),
                         (0, os.environ["DG_EXPECTED_VERSION"]))

    def test_errors(self):
        status, _, err = child("import diffguard", PACKAGE_SOURCE,
                               "/nonexistent/libdiffguard.so.1")
        self.assertNotEqual(status, 0)
        self.assertIn("LibraryError: libdiffguard was not found: tried "
                      "/nonexistent/libdiffguard.so.1 (DIFFGUARD_LIBRARY)",
                      err)
        status, _, err = child("import diffguard", PACKAGE_SOURCE,
                               os.environ["DG_FAKE_ABI_LIBRARY"])
        self.assertNotEqual(status, 0)
        self.assertIn("has ABI version 2; this binding was written for %d"
                      % dg.ABI_VERSION, err)
        if ctypes.util.find_library("diffguard"):
            self.skipTest("libdiffguard is installed on this system")
        status, _, err = child("import diffguard", PACKAGE_SOURCE)
        self.assertNotEqual(status, 0)
        self.assertIn("libdiffguard was not found. Set DIFFGUARD_LIBRARY",
                      err)


if __name__ == "__main__":
    unittest.main()
