#!/usr/bin/env bash
# The GPU-machine configuration: engine + CLI with the GUI, OpenCV/GDCM and ONNX off
# (only LibTorch). Configures it and compiles the translation units whose code differs
# without OpenCV, so that path cannot rot on CPU-only CI.
#   build_minimal.sh SOURCE_DIR
set -euo pipefail
SRC=${1:?usage: build_minimal.sh SOURCE_DIR}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
cmake -S "$SRC" -B "$T" -DCMAKE_BUILD_TYPE=Release -DAMPBENCH_GUI=OFF -DAMPBENCH_OPENCV=OFF \
  -DAMPBENCH_ONNX=OFF -DAMPBENCH_TESTS=OFF >"$T/configure.log" 2>&1 || { cat "$T/configure.log"; exit 1; }
if grep -q "AMPBENCH_HAVE_OPENCV" "$T/engine/CMakeFiles/ampbench_engine.dir/flags.make"; then
  echo "FAIL: AMPBENCH_OPENCV=OFF still defines AMPBENCH_HAVE_OPENCV"; exit 1
fi
make -C "$T/engine" -j"$(nproc)" data/Image.cpp.o data/ImageCache.cpp.o export/Export.cpp.o
echo "minimal (LibTorch-only) configuration compiles"
