#!/usr/bin/env bash
# System packages for napari-tramway on Debian/Ubuntu: Qt/OpenGL libraries and Xvfb for napari
# (and its headless GUI tests), python3-venv. Needs root (or sudo). Idempotent.
set -euo pipefail
PKGS=(xvfb xauth libegl1 libgl1 libopengl0 libdbus-1-3 libfontconfig1 libglib2.0-0 libxkbcommon0
      libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0 libxcb-render0
      libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-cursor0 libxcb-randr0 libxcb-xfixes0 libxrender1
      libxi6 libsm6 libice6)
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then missing+=(python3-venv); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing system packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
