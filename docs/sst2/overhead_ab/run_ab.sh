#!/usr/bin/env bash
# How docs/sst2/overhead_ab was measured: threshold 1.0 against the plain forward on SST-2 dev, the code of
# commit 50349e0 ("old", checked out with `git worktree add /tmp/old_code 50349e0`, .cache linked in) and of
# 8a90c79 ("new"), alternating old/new three times on an otherwise idle machine, 2 threads.
source .venv/bin/activate
A=$PWD/runs/sst2/model.tar.gz; D=$PWD/../shared/datasets/sst2/dev.tsv
for i in 1 2 3; do
  (cd /tmp/old_code && PYTHONPATH=/tmp/old_code python scripts/benchmark_early_exit.py "$A" "$D" \
     --output-dir /tmp/ab/old_$i --thresholds 1.0 --num-threads 2)
  python scripts/benchmark_early_exit.py "$A" "$D" --output-dir /tmp/ab/new_$i --thresholds 1.0 --num-threads 2
done
