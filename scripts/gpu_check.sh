#!/usr/bin/env bash
# The GPU measurements of docs/PERFORMANCE.md ("GPU"), as one script for a borrowed GPU machine (issue 21):
#   1. make bench (roofline, engine, GEMM peak, bf16/fp32 ratios);
#   2. full-test-set maps of one Table 1 k=5 network, fp32 and bf16 autocast, timed (goal: < 5 s);
#   3. one seeds3 figure end to end (Fig. 2: 9 trainings + 9 evaluations) with 4 jobs sharing the GPU (goal: < 10 min).
# Needs MNIST in $DATA_DIR (default ./data: copy ../shared/data/MNIST there first, ~11 MB as .gz) and writes
# everything under ${OUT:-gpu_check}/ (logs and timings.txt). Run: bash scripts/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_check}
mkdir -p "$OUT"
export DATA_DIR=${DATA_DIR:-$PWD/data} WANDB_MODE=offline WANDB_SILENT=true
PY=${PY:-python3}
$PY -m pip install -q -c constraints.txt -e . > "$OUT/install.log" 2>&1 || true
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
stamp() { date +%s.%N; }

$PY -m src.bench --seconds 1.0 2>&1 | tee "$OUT/bench.txt"

RUN=outputs/gpu_check/k5
$PY -m src.train experiment=exp1_mnist kernel=5 seed=0 stop_train_accuracy=0.995 trainer=gpu \
    trainer.enable_progress_bar=false logger=csv "hydra.run.dir=$RUN" > "$OUT/train.log" 2>&1
for prec in null bfloat16; do
  t0=$(stamp)
  $PY -m src.evaluate "run_dir=$RUN" images_per_class=null autocast=$prec force=true "output=maps_$prec.pt" \
      > "$OUT/maps_$prec.log" 2>&1
  echo "full-test-set maps, autocast=$prec: $(echo "$(stamp) - $t0" | bc) s (process start and data load included)" \
      | tee -a "$OUT/timings.txt"
done

t0=$(stamp)
$PY -m src.reproduce figure=2 preset=seeds3 launcher=parallel outputs=outputs/gpu_check figures_dir="$OUT/figures" \
    "extra_overrides=['trainer=gpu','hydra.launcher.n_jobs=4','logger=csv']" > "$OUT/fig2.log" 2>&1
echo "seeds3 Fig. 2 end to end (9 trainings, 9 evaluations, 4 jobs on the GPU): $(echo "$(stamp) - $t0" | bc) s" \
    | tee -a "$OUT/timings.txt"
