#!/usr/bin/env bash
# Debian/Ubuntu packages facelm needs beyond Python wheels. As root: installs the
# missing ones. Otherwise: prints the exact apt-get line and fails if any is missing.
set -euo pipefail

# espeak-ng: speech for the talking corpus; libportaudio2: microphone node;
# cmake/g++ (+ python3.11-dev on a system Python): building facelm_msgs into the venv;
# wordnet-base, mythes-en-us: WordNet and the thesaurus export.lm builds word aliases from
# (export/word_aliases.py).
PACKAGES=(espeak-ng libespeak-ng1 libportaudio2 cmake g++ make wordnet-base mythes-en-us)

# A Debian system Python needs its -dev (Python.h for the msgs build) and -venv packages.
PY=$(command -v python3.11 || command -v python3 || true)
if [ -n "$PY" ] && ! "$PY" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  PACKAGES+=(python3.11-dev python3.11-venv)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "system_deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  $line >/dev/null
else
  echo "system_deps: missing Debian packages; run as root:" >&2
  echo "  sudo apt-get update && sudo $line" >&2
  exit 1
fi
