"""Builds the diffguard wheel: the package and the shared library it loads,
so that `pip install ./python` gives a working package offline.

A PEP 517 build backend (python/pyproject.toml names it) written with the
standard library only: Debian 12 has no PyPI, and a build backend that pip
would have to download (setuptools in an isolated build) fails there.

The library is DIFFGUARD_LIBRARY when set, else build/lib/libdiffguard.so.1
of the meson build beside this folder (the README's `meson setup build`).
"""
import base64
import hashlib
import os
import re
import sysconfig
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = "diffguard"
LIBRARY_NAME = "libdiffguard.so.1"


def _version():
    with open(os.path.join(HERE, PACKAGE, "__init__.py")) as f:
        return re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)


def _library():
    path = os.environ.get("DIFFGUARD_LIBRARY") or os.path.join(
        HERE, "..", "build", "lib", LIBRARY_NAME)
    if not os.path.isfile(path):
        raise RuntimeError(
            "%s is not there: build libdiffguard first (`meson setup build "
            "&& ninja -C build` in the repository) or set DIFFGUARD_LIBRARY "
            "to the library's path" % os.path.normpath(path))
    return path


def _platform_tag():
    # The wheel holds a compiled library: it fits only this platform.
    return re.sub(r"[-.]", "_", sysconfig.get_platform())


def _metadata(version):
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n"
            "Summary: Python binding of libdiffguard: validates transfer-"
            "learned image classifiers' inputs against Teacher-feature "
            "mimicry attacks\nLicense: MIT\nRequires-Python: >=3.7\n"
            "Requires-Dist: numpy\n" % (PACKAGE, version))


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
    return "%s,sha256=%s,%d\n" % (name, digest.rstrip(b"=").decode(),
                                  len(data))


def build_wheel(wheel_directory, config_settings=None,
                metadata_directory=None):
    """PEP 517: writes the wheel into wheel_directory, returns its name."""
    version = _version()
    tag = "py3-none-" + _platform_tag()
    name = "%s-%s-%s.whl" % (PACKAGE, version, tag)
    dist_info = "%s-%s.dist-info" % (PACKAGE, version)
    files = []
    source = os.path.join(HERE, PACKAGE)
    for entry in sorted(os.listdir(source)):
        if entry.endswith(".py"):
            with open(os.path.join(source, entry), "rb") as f:
                files.append((PACKAGE + "/" + entry, f.read()))
    with open(_library(), "rb") as f:
        files.append((PACKAGE + "/" + LIBRARY_NAME, f.read()))
    files.append((dist_info + "/METADATA", _metadata(version).encode()))
    files.append((dist_info + "/WHEEL", (
        "Wheel-Version: 1.0\nGenerator: diffguard wheel_backend\n"
        "Root-Is-Purelib: false\nTag: %s\n" % tag).encode()))
    record = "".join(_record_line(n, d) for n, d in files)
    files.append((dist_info + "/RECORD",
                  (record + dist_info + "/RECORD,,\n").encode()))
    path = os.path.join(wheel_directory, name)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for entry, data in files:
            info = zipfile.ZipInfo(entry, date_time=(1980, 1, 1, 0, 0, 0))
            # Modes as installed: the library 0755, the rest 0644.
            mode = 0o755 if entry.endswith(LIBRARY_NAME) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(info, data)
    return name


def get_requires_for_build_wheel(config_settings=None):
    """PEP 517: nothing to install before building."""
    return []
