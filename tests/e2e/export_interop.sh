#!/bin/bash
# CTest e2e_export_interop: the Python peers (onnx, torch, torchvision, cv2 of Debian's
# /usr/bin/python3) load the exported files and compute the engine's outputs.
# Usage: export_interop.sh AMPBENCH_CLI [--part export|pretrained]. Exit 77 (skip) when the peers are missing.
set -u
CLI="$1"
PY=/usr/bin/python3
if [ ! -x "$PY" ]; then
  echo "SKIP: $PY not found (the interop test needs Debian's python3 with onnx, torch, torchvision, opencv)"
  exit 77
fi
shift
exec "$PY" "$(dirname "$0")/export_interop.py" "$CLI" "$@"
