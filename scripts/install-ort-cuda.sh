#!/usr/bin/env bash
# Opt-in: installs the ONNX Runtime 1.29.0 GPU build (CUDA 13, cuDNN 9) that
# `--device cuda[:N]` runs on, from the npm registry packages
# com.github.asus4.onnxruntime (libonnxruntime.so) and
# com.github.asus4.onnxruntime.linux-x64-gpu (the CUDA provider libraries),
# version 0.4.9, checksums of the packages and of every library verified, into
# third_party/onnxruntime/cuda/. The CUDA 13 runtime, cuBLAS and cuDNN 9
# libraries themselves come from the NVIDIA driver/toolkit installation and
# must be findable through LD_LIBRARY_PATH. Idempotent.
set -euo pipefail

PKG_VERSION=0.4.9
BASE_PKG=com.github.asus4.onnxruntime
GPU_PKG=com.github.asus4.onnxruntime.linux-x64-gpu
BASE_SHA256=e59788788818fdde1b2e522e766a21ba0f7d8391de55737abf81e32cc801785d
GPU_SHA256=2b459e0c17f340c92970c10ed86de4f37a3009f93c14053e6ad4334cbb6be412
IN_PKG=package/Plugins/Linux/x64
# library  package  sha256
LIBS=(
  "libonnxruntime.so $BASE_PKG 5715f06d8992ca8eeeddcce43df3a7d38f97d537052126f558e912cb312460ca"
  "libonnxruntime_providers_shared.so $GPU_PKG c6a12593396095f5670160e284c35d1700b7708cf3037b7042e2a5200ccae772"
  "libonnxruntime_providers_cuda.so $GPU_PKG 56cf3254b118ad837ccc4ed8f6d1b23504bbf7ef91b34cbc0b289cb7f10b3037"
)

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/third_party/onnxruntime/cuda"

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "install-ort-cuda: only linux x86_64 is pinned here; set UNLEARNBENCH_ORT_LIB to your own CUDA build of libonnxruntime" >&2
  exit 1
fi

all_ok=1
for entry in "${LIBS[@]}"; do
  read -r lib _ sum <<<"$entry"
  if ! { [ -f "$dest/$lib" ] && echo "$sum  $dest/$lib" | sha256sum --check --status; }; then
    all_ok=0
  fi
done
[ "$all_ok" = 1 ] && exit 0

cache="${XDG_CACHE_HOME:-$HOME/.cache}/unlearnbench"
mkdir -p "$cache" "$dest"
fetch() { # package sha256 -> path of the verified tarball in the cache
  local pkg=$1 sum=$2 tgz="$cache/$1-$PKG_VERSION.tgz"
  if ! { [ -f "$tgz" ] && echo "$sum  $tgz" | sha256sum --check --status; }; then
    echo "install-ort-cuda: downloading $pkg $PKG_VERSION from the npm registry" >&2
    curl -fsSL --retry 3 -o "$tgz.part" "https://registry.npmjs.org/$pkg/-/$pkg-$PKG_VERSION.tgz"
    if ! echo "$sum  $tgz.part" | sha256sum --check --status; then
      rm -f "$tgz.part"
      echo "install-ort-cuda: checksum mismatch for $pkg $PKG_VERSION" >&2
      exit 1
    fi
    mv "$tgz.part" "$tgz"
  fi
  echo "$tgz"
}
base_tgz=$(fetch "$BASE_PKG" "$BASE_SHA256")
gpu_tgz=$(fetch "$GPU_PKG" "$GPU_SHA256")

tmp=$(mktemp -d "$dest/.extract-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for entry in "${LIBS[@]}"; do
  read -r lib pkg sum <<<"$entry"
  tgz=$base_tgz
  [ "$pkg" = "$GPU_PKG" ] && tgz=$gpu_tgz
  mkdir -p "$tmp/$pkg"
  tar -xzf "$tgz" -C "$tmp/$pkg" "$IN_PKG/$lib"
  if ! echo "$sum  $tmp/$pkg/$IN_PKG/$lib" | sha256sum --check --status; then
    echo "install-ort-cuda: checksum mismatch for $lib in $tgz" >&2
    exit 1
  fi
  mv "$tmp/$pkg/$IN_PKG/$lib" "$dest/$lib"
done
# The CPU build's soname, for loaders that ask for it.
ln -sf libonnxruntime.so "$dest/libonnxruntime.so.1"
echo "install-ort-cuda: installed ONNX Runtime 1.29.0 (GPU build) in $dest; run with --device cuda" >&2
