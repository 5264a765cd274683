#!/usr/bin/env bash
# Make sure Fashion-MNIST is on disk: Debian's dataset-fashion-mnist where apt is available (this
# project's machines have no internet but do reach Debian's archive); otherwise torchvision
# downloads it on first use (a laptop with internet).
set -u
files=/usr/share/datasets/fashion-mnist
if [ -f "$files/train-images-idx3-ubyte.gz" ] && [ -f "$files/t10k-labels-idx1-ubyte.gz" ]; then
  echo "Fashion-MNIST: found in $files"
  exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "Fashion-MNIST: installing the Debian package dataset-fashion-mnist"
  if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) >/dev/null; then
    echo "Fashion-MNIST: installed in $files"
    exit 0
  fi
  echo "Fashion-MNIST: apt-get failed; torchvision will download it on first use" >&2
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo apt-get update -qq && sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null && exit 0
  echo "Fashion-MNIST: apt-get failed; torchvision will download it on first use" >&2
else
  echo "Fashion-MNIST: no apt here; torchvision will download it on first use (needs internet)"
fi
exit 0
