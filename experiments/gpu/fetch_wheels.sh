#!/usr/bin/env bash
# Download the GPU profile's wheels (requirements-gpu.txt) for the GPU machine's Python 3.12,
# then pack them into parts small enough for the device tool (60 MiB each, xz-compressed; PART_SIZE=46M
# for smaller ones, when the tree that travels with each part is larger).
#   [PART_SIZE=60M] experiments/gpu/fetch_wheels.sh [WHEEL_DIR=.whl-gpu] [PARTS_DIR=.gpu-parts]
set -euo pipefail
cd "$(dirname "$0")/../.."
wheels=${1:-.whl-gpu}
parts=${2:-.gpu-parts}
mkdir -p "$wheels"
platforms=()
for n in 17 24 27 28 31 34 35; do platforms+=(--platform "manylinux_2_${n}_x86_64"); done
# The helper reads the file as pip does (comments, inline ones too) and refuses anything but NAME==VERSION.
reqs=$(python3 -m experiments.gpu.requirements requirements-gpu.txt) || exit 2
for req in $reqs; do
  name=${req%%==*}
  if ls "$wheels" | grep -qi "^$(echo "$name" | tr '-' '_')-${req##*==}-"; then continue; fi
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any \
    -d "$wheels" "$req"
done
echo "$(ls "$wheels" | wc -l) wheels, $(du -sh "$wheels" | cut -f1) in $wheels"
# Re-store every wheel uncompressed, then xz the lot: xz over stored members beats zip's deflate
# (332 MiB of wheels become about 224 MiB), and pip installs stored wheels as usual.
rm -rf "$parts" "$wheels.stored" && mkdir -p "$parts" "$wheels.stored"
python3 - "$wheels" "$wheels.stored" <<'PY'
import sys, zipfile, pathlib
src, dst = map(pathlib.Path, sys.argv[1:])
for whl in sorted(src.glob("*.whl")):
    with zipfile.ZipFile(whl) as zin, zipfile.ZipFile(dst / whl.name, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item), compress_type=zipfile.ZIP_STORED)
PY
tar -C "$wheels.stored" -cf - . | nice -n 19 xz -T0 -6 | split -b "${PART_SIZE:-60M}" -d - "$parts/wheels.tar.xz.part"
rm -rf "$wheels.stored"
(cd "$parts" && sha256sum wheels.tar.xz.part* > SHA256SUMS)
ls -la "$parts"
