#!/usr/bin/env bash
# Everything that needs a CUDA GPU, in one run (the sweep under 6 minutes; then, 6 minutes on an
# H100 on 2026-11-26: tests 30 s, profile 1 min, the suite 4.5 min):
#   0. benchmarks/gpu_sweep.py: steady-state steps of 8 models ($RESULTS/gpu_sweep_<gpu>.json),
#      what benchmarks/gpu_step_model.py --sweep fits and scores the step model with;
#   1. the tests marked `gpu`;
#   2. `advisor profile` on the GPU: the reference profile $MEASURED/<gpu>.json;
#   3. benchmarks/gpu_accuracy.py: same-device and cross-device accuracy
#      ($RESULTS/gpu_accuracy_<gpu>.{md,csv}), its calibrations added to the reference profile;
#   4. on a machine with several GPUs, `advisor profile --nproc <GPUs>` (NCCL all-reduce sweep
#      and DDP steps) into $RESULTS/ddp_profile_<gpu>.json.
# Then, on any machine (no GPU needed), with the new sweep beside the H200's:
#   python benchmarks/gpu_step_model.py --sweep benchmarks/data/h200-sweep-2026-11-26.json $RESULTS/gpu_sweep_<gpu>.json
#   python benchmarks/gpu_memory.py --sweep $RESULTS/gpu_sweep_<gpu>.json
# Usage: benchmarks/gpu_all.sh [gpu_accuracy.py options, e.g. --quick or --cpu-profile FILE]
# Environment: PYTHON (python3), MEASURED (advisor/cloud/data/measured), RESULTS (benchmarks/results),
# BUDGET_S (seconds for all of it; unset: no limit). With a budget the stages keep their order of
# worth: the sweep takes what the others leave (RESERVE_S, 150 s: tests about 30 s, the profile
# about 75 s), stopping before a row that would not fit, and the accuracy suite runs only with 200 s
# left. Every stage writes as it goes, so a run cut short keeps what it measured.
#   BUDGET_S=420 RESULTS=/tmp/gpu MEASURED=/tmp/gpu benchmarks/gpu_all.sh --quick \
#       --cpu-profile benchmarks/data/cpu_profile_epyc-2-core.json
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
MEASURED=${MEASURED:-advisor/cloud/data/measured}
RESULTS=${RESULTS:-benchmarks/results}
"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU visible to torch')" || exit 1
name=$("$PYTHON" -c "import re, torch; print(re.sub(r'[^a-z0-9]+', '-', torch.cuda.get_device_name(0).lower()).strip('-'))")
BUDGET_S=${BUDGET_S:-}
RESERVE_S=${RESERVE_S:-150}
left() { echo $(( BUDGET_S - SECONDS )); }  # SECONDS: since the script started
status=0
echo "== steady-state sweep"
mkdir -p "$RESULTS"
budget=()
[ -n "$BUDGET_S" ] && budget=(--budget-s "$(( BUDGET_S - RESERVE_S ))")
"$PYTHON" benchmarks/gpu_sweep.py "${budget[@]}" --out "$RESULTS/gpu_sweep_${name}.json" || status=1
echo "== tests marked gpu"
"$PYTHON" -m pytest -q -p no:cacheprovider -m gpu tests || status=1  # the measurements below still run
echo "== advisor profile on $name"
mkdir -p "$MEASURED" "$RESULTS"
"$PYTHON" -m advisor profile --device cuda:0 --budget-s 30 --output "$MEASURED/$name.json" || exit 1
if [ -n "$BUDGET_S" ] && [ "$(left)" -lt 200 ]; then
  echo "== GPU accuracy suite left out: $(left) s of the budget left"
  exit $status
fi
echo "== GPU accuracy suite"
"$PYTHON" benchmarks/gpu_accuracy.py --profile "$MEASURED/$name.json" --results-dir "$RESULTS" "$@" || status=1
gpus=$("$PYTHON" -c "import torch; print(torch.cuda.device_count())")
if [ "$gpus" -gt 1 ]; then
  echo "== data-parallel profile on $gpus GPUs"
  "$PYTHON" -m advisor profile --nproc "$gpus" --output "$RESULTS/ddp_profile_${name}.json" || status=1
fi
exit $status
