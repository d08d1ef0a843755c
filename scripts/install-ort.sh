#!/usr/bin/env bash
# Installs the ONNX Runtime CPU shared library that unlearnbench runs on, from
# the npm registry package onnxruntime-node (pinned version, checksums of the
# package and of the library verified), into third_party/onnxruntime/cpu/.
# Idempotent: does nothing when the verified library is already there.
set -euo pipefail

ORT_VERSION=1.30.0
PKG_SHA256=6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75
LIB_SHA256=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23
PKG_URL="https://registry.npmjs.org/onnxruntime-node/-/onnxruntime-node-${ORT_VERSION}.tgz"
LIB_IN_PKG=package/bin/napi-v6/linux/x64/libonnxruntime.so.1

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/third_party/onnxruntime/cpu"
lib="$dest/libonnxruntime.so.1"

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "install-ort: only linux x86_64 is pinned here; set UNLEARNBENCH_ORT_LIB to your own libonnxruntime" >&2
  exit 1
fi

if [ -f "$lib" ] && echo "$LIB_SHA256  $lib" | sha256sum --check --status; then
  exit 0
fi

cache="${XDG_CACHE_HOME:-$HOME/.cache}/unlearnbench"
mkdir -p "$cache" "$dest"
tgz="$cache/onnxruntime-node-${ORT_VERSION}.tgz"
if ! { [ -f "$tgz" ] && echo "$PKG_SHA256  $tgz" | sha256sum --check --status; }; then
  echo "install-ort: downloading onnxruntime-node ${ORT_VERSION} from the npm registry" >&2
  curl -fsSL --retry 3 -o "$tgz.part" "$PKG_URL"
  if ! echo "$PKG_SHA256  $tgz.part" | sha256sum --check --status; then
    rm -f "$tgz.part"
    echo "install-ort: checksum mismatch for $PKG_URL" >&2
    exit 1
  fi
  mv "$tgz.part" "$tgz"
fi

tmp=$(mktemp -d "$dest/.extract-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$tgz" -C "$tmp" "$LIB_IN_PKG"
if ! echo "$LIB_SHA256  $tmp/$LIB_IN_PKG" | sha256sum --check --status; then
  echo "install-ort: checksum mismatch for $LIB_IN_PKG in $tgz" >&2
  exit 1
fi
mv "$tmp/$LIB_IN_PKG" "$lib"
echo "install-ort: installed ONNX Runtime ${ORT_VERSION} at $lib" >&2
