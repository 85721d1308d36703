#!/bin/bash
# check_install.sh - `meson install` into a staging folder, then what a user
# of that prefix does: the installed dg runs with no LD_LIBRARY_PATH (its
# RUNPATH finds the library) and finds its guides where its help says, and
# the example host and a program calling
# the library build with pkg-config from the installed .pc file (under
# <libdir>/pkgconfig, as doc/getting-started.md says) and run.  The staging
# folder stands in for the prefix: PKG_CONFIG_SYSROOT_DIR prepends it to
# the .pc file's paths.
#
# usage: check_install.sh MESON BUILD_DIR SOURCE_ROOT PREFIX LIBDIR BINDIR CC...
set -euo pipefail
meson=$1 build=$2 root=$3 prefix=$4 libdir=$5 bindir=$6
cc=("${@:7}")
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
case $bindir in /*) ;; *) bindir=$prefix/$bindir ;; esac

"$meson" install -C "$build" --no-rebuild --quiet --destdir "$stage" \
    >"$stage/install.log"
unset LD_LIBRARY_PATH

if [ -e "$stage$bindir/dg" ]; then
    "$stage$bindir/dg" version | grep -q '^library '
    # The guides its help names are where it says.
    docs=$("$stage$bindir/dg" help | sed -n 's|^installed, under \(.*\)/\.$|\1|p')
    for guide in README.md doc/getting-started.md doc/onnx.md; do
        [ -f "$stage$docs/$guide" ] ||
            { echo "dg help names $docs, which lacks $guide" >&2; exit 1; }
    done
    # Every relative link of the installed guides finds its file there.
    python3 - "$stage$docs" <<'PY'
import pathlib, re, sys
root = pathlib.Path(sys.argv[1])
broken = [f"{md.relative_to(root)}: {target}"
          for md in root.rglob("*.md")
          for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", md.read_text())
          if "://" not in target and not (md.parent / target).exists()]
if broken:
    sys.exit("broken links in the installed guides:\n" + "\n".join(broken))
PY
fi

export PKG_CONFIG_PATH=$stage$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$stage
flags=$(pkg-config --cflags --libs libdiffguard)
# The rpath a program needs when the prefix is not in the linker's paths.
rpath=-Wl,-rpath,$stage$libdir
"${cc[@]}" -std=c11 "$root/examples/c_host/host.c" $flags "$rpath" -o "$stage/host"
"${cc[@]}" -std=c11 "$root/examples/subproject/app.c" $flags "$rpath" \
    -o "$stage/app"
"$stage/app" | grep -q '^guarded-app with libdiffguard '
# Without arguments the host prints its usage (exit 2) once it has loaded.
status=0
"$stage/host" 2>/dev/null || status=$?
[ "$status" -eq 2 ] || { echo "host exited with $status" >&2; exit 1; }
echo "ok: installed dg runs, and hosts build and run with pkg-config"
