#!/usr/bin/env bash
# Everything that needs a CUDA GPU, in one run (about 6 minutes on one GPU):
#   1. the tests marked `gpu`;
#   2. benchmarks/gpu_accuracy.py: this GPU's reference profile (profiles/measured/<gpu>.json) and
#      same-device and cross-device accuracy (benchmarks/results/gpu_accuracy_<gpu>.{md,csv});
#   3. on a machine with several GPUs, `advisor profile --nproc <GPUs>` (NCCL all-reduce sweep
#      and DDP steps) into benchmarks/results/ddp_profile_<gpu>.json.
# Usage: benchmarks/gpu_all.sh [--quick]   (PYTHON=python3 by default; advisor installed)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU visible to torch')"
echo "== tests marked gpu"
"$PYTHON" -m pytest -q -m gpu tests
echo "== GPU accuracy suite"
"$PYTHON" benchmarks/gpu_accuracy.py "$@"
gpus=$("$PYTHON" -c "import torch; print(torch.cuda.device_count())")
if [ "$gpus" -gt 1 ]; then
  name=$("$PYTHON" -c "import re, torch; print(re.sub(r'[^a-z0-9]+', '-', torch.cuda.get_device_name(0).lower()).strip('-'))")
  echo "== data-parallel profile on $gpus GPUs"
  "$PYTHON" -m advisor profile --nproc "$gpus" --output "benchmarks/results/ddp_profile_${name}.json"
fi
