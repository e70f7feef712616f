#!/usr/bin/env bash
# Runs the project's contract checks from ../shared/checks against our CLI; skips (77)
# when the checks or their reference data are absent (e.g. outside the workplace).
CLI=${1:?usage: contract.sh PATH/TO/ampbench-cli SHARED_DIR}
SHARED=${2:?}
if [ ! -x "$SHARED/checks/cli-contract" ] || [ ! -d "$SHARED/data/pneumoniamnist" ]; then
  echo "skipped: $SHARED/checks/cli-contract or $SHARED/data/pneumoniamnist not present"
  exit 77
fi
exec "$SHARED/checks/cli-contract" "$CLI"
