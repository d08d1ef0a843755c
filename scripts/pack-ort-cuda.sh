#!/usr/bin/env bash
# Builds the file that carries unlearnbench's CUDA run to a GPU test machine
# (one H200, sm_90, CUDA 13 and cuDNN 9 present, no network, no Go, at most
# 64 MiB carried): bin/ort-cuda-sm90.tar.xz, holding ort-cuda/ with
#   libonnxruntime.so                  ONNX Runtime 1.29.0, as installed
#   libonnxruntime_providers_shared.so as installed
#   libonnxruntime_providers_cuda.so   with every GPU architecture's code but
#                                      sm_90 zeroed (scripts/prune-fatbin):
#                                      230 MB, 32 MB of it sm_90 code
#   unlearnbench                       this tree's binary, -trimpath, stripped
#                                      (needs glibc 2.34 or newer)
# The same libraries and the same tree give the same bytes: the tar is
# written with names sorted, times, owners and modes fixed, and xz runs on
# one thread (its multi-threaded output depends on the thread count).
# scripts/device-check.sh unpacks it on the GPU machine.
#
#   scripts/pack-ort-cuda.sh              the libraries of scripts/install-ort-cuda.sh
#   ORT_CUDA_DIR=DIR scripts/pack-ort-cuda.sh
#                                         DIR's; checksums must still match the
#                                         pinned ones unless PACK_UNPINNED=1
#   XZ_LEVEL=-1 ...                       faster, bigger (default -9e: about
#                                         5 minutes on 2 cores)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
src=${ORT_CUDA_DIR:-}
if [ -z "$src" ]; then
  ./scripts/install-ort-cuda.sh
  src=third_party/onnxruntime/cuda
fi
out=${PACK_OUT:-bin/ort-cuda-sm90.tar.xz}
limit=$((64 * 1024 * 1024))

# The pinned checksums, read from the installer so that they live in one place.
libs=()
while read -r lib _ sum; do
  f="$src/$lib"
  [ -f "$f" ] || { echo "pack-ort-cuda: $f not found (run scripts/install-ort-cuda.sh)" >&2; exit 2; }
  if ! echo "$sum  $f" | sha256sum --check --status; then
    if [ "${PACK_UNPINNED:-0}" != 1 ]; then
      echo "pack-ort-cuda: $f is not the pinned build (sha256 $sum); set PACK_UNPINNED=1 to pack it anyway" >&2
      exit 2
    fi
    echo "pack-ort-cuda: warning: $f is not the pinned build" >&2
  fi
  libs+=("$lib")
done < <(sed -n 's/^  "\(libonnxruntime[a-z_]*\.so\) \$[A-Z_]* \([0-9a-f]\{64\}\)"$/\1 x \2/p' scripts/install-ort-cuda.sh)
[ "${#libs[@]}" = 3 ] || { echo "pack-ort-cuda: expected 3 pinned libraries in scripts/install-ort-cuda.sh, read ${#libs[@]}" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/ort-cuda"
for lib in "${libs[@]}"; do
  if [ "$lib" = libonnxruntime_providers_cuda.so ]; then
    go run ./scripts/prune-fatbin -arch 90 "$src/$lib" "$tmp/ort-cuda/$lib"
  else
    cp "$src/$lib" "$tmp/ort-cuda/$lib"
  fi
done
go build -trimpath -ldflags='-s -w' -o "$tmp/ort-cuda/unlearnbench" .

mkdir -p "$(dirname "$out")"
LC_ALL=C tar -C "$tmp" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
  --mode=u=rwx,go=rx --format=gnu -cf - ort-cuda |
  xz "${XZ_LEVEL:--9e}" -T1 -c >"$out.part"
size=$(stat -c %s "$out.part")
if [ "$size" -gt "$limit" ]; then
  rm -f "$out.part"
  echo "pack-ort-cuda: the carry is $size bytes, over the GPU machine's $limit" >&2
  exit 1
fi
mv "$out.part" "$out"
echo "pack-ort-cuda: $out, $size bytes, sha256 $(sha256sum "$out" | cut -d' ' -f1)" >&2
