#!/usr/bin/env bash
# Everything `make demo` and `make test` need on a fresh machine, installed
# idempotently: Debian packages (real datasets, ONNX test data, Chromium for
# the HTML report test), Go modules, and the pinned ONNX Runtime library.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

# Debian packages the tests and the demo read from:
#   dataset-fashion-mnist  the embedded default dataset (/usr/share/datasets/fashion-mnist)
#   libonnx-testdata       real PyTorch ONNX exports of single layers (importer tests)
#   chromium               headless browser that opens the HTML report in a test
#   python3-torch, python3-numpy  PyTorch for exec methods written with python/unlearnbench
#                          (the tests run a PyTorch population in worker mode)
#   libopenblas0-pthread   an optimised BLAS: Debian's torch calls libblas.so.3, which
#                          without it is the reference BLAS, 10x slower on a small MLP
DEBIAN_PACKAGES=(dataset-fashion-mnist libonnx-testdata chromium python3-torch python3-numpy libopenblas0-pthread)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    bash -c "$cmd" >&2
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    echo "setup: installing Debian packages with sudo: ${missing[*]}" >&2
    sudo bash -c "$cmd" >&2
  else
    echo "setup: missing Debian packages ${missing[*]}; run as root: $cmd" >&2
    exit 1
  fi
fi

cd "$root"
go mod download
"$root/scripts/install-ort.sh"
