#!/usr/bin/env bash
# Debian/Ubuntu packages facelm needs beyond Python wheels. As root: installs the
# missing ones. Otherwise: prints the exact apt-get line and fails if any is missing.
set -euo pipefail

# espeak-ng: speech for the talking corpus; libportaudio2: microphone node;
# cmake/g++/python3-dev: building facelm_msgs into the venv.
PACKAGES=(espeak-ng libespeak-ng1 libportaudio2 cmake g++ make)

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
