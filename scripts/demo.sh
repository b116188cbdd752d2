#!/usr/bin/env bash
# The sledgehammer demo, offline, on 2 CPU cores: prepare a real encoder (all-MiniLM-L6-v2) and real data
# (Rotten Tomatoes sentences), train a 6-exit classifier with training_config/sst.jsonnet, evaluate every
# exit, calibrate the exits, predict with early exit at threshold 0.9 and chart the speed/accuracy trade-off.
# Re-running reuses the prepared assets and the trained model (delete runs/demo to retrain).
set -euo pipefail
cd "$(dirname "$0")/.."

export ALLENNLP_LOG_LEVEL="${ALLENNLP_LOG_LEVEL:-WARNING}"
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore::FutureWarning}"
export TOKENIZERS_PARALLELISM=false
RUN=runs/demo
DATA=.cache/data/rotten_tomatoes
PLUGIN=(--include-package sledgehammer)
step() { printf '\n==> %s\n' "$*"; }

step "1/7 Preparing the offline encoder and data"
python scripts/prepare_demo_assets.py

if [ -f "$RUN/model.tar.gz" ]; then
  step "2/7 Reusing the model trained before in $RUN (rm -rf $RUN to retrain)"
else
  step "2/7 Training: allennlp train training_config/sst.jsonnet -s $RUN --include-package sledgehammer"
  rm -rf "$RUN"
  start=$(date +%s)
  allennlp train training_config/sst.jsonnet -s "$RUN" "${PLUGIN[@]}"
  echo "trained in $(( $(date +%s) - start )) s"
fi

step "3/7 Accuracy of every exit on the test split ($DATA/test.tsv)"
allennlp evaluate "$RUN/model.tar.gz" "$DATA/test.tsv" "${PLUGIN[@]}" --output-file "$RUN/test_metrics.json" > /dev/null
python scripts/show_exit_accuracies.py "$RUN/test_metrics.json"

step "4/7 Calibrating the exits on the dev split: allennlp calibrate $RUN/model.tar.gz $DATA/dev.tsv"
allennlp calibrate "$RUN/model.tar.gz" "$DATA/dev.tsv" --plot "$RUN/reliability.png" "${PLUGIN[@]}"

step "5/7 Predicting with early exit at threshold 0.9"
cat > "$RUN/sentences.jsonl" <<'JSONL'
{"sentence": "a gorgeous , witty , seductive movie ."}
{"sentence": "the plot is nothing but boilerplate clichés from start to finish ."}
{"sentence": "it's a charming and often affecting journey ."}
{"sentence": "unfolds with all the mounting tension of an expert thriller , until the tiresome last act ."}
{"sentence": "an unremarkable , forgettable film that nonetheless has a few good moments ."}
{"sentence": "one of the worst films of the year ."}
JSONL
allennlp predict "$RUN/model.tar.gz" "$RUN/sentences.jsonl" "${PLUGIN[@]}" --overrides '{"threshold": 0.9}' \
  --output-file "$RUN/predictions.jsonl" --silent
python scripts/show_predictions.py "$RUN/sentences.jsonl" "$RUN/predictions.jsonl"

step "6/7 Evaluating the test split at several thresholds (the config's batches of 32, batched early exit)"
results=()
for threshold in 0.6 0.8 0.9 0.95 1.0; do
  allennlp evaluate "$RUN/model.tar.gz" "$DATA/test.tsv" "${PLUGIN[@]}" --overrides "{\"threshold\": $threshold}" \
    --output-file "$RUN/test_metrics_threshold_$threshold.json" > /dev/null
  results+=("$threshold=$RUN/test_metrics_threshold_$threshold.json")
done
python scripts/show_threshold_metrics.py "${results[@]}"

step "7/7 Speed/accuracy trade-off on the test split: allennlp tradeoff ... --time"
allennlp tradeoff "$RUN/model.tar.gz" "$DATA/test.tsv" --output-dir "$RUN/tradeoff" --time --time-instances 300 \
  --max-accuracy-drop 1.0 "${PLUGIN[@]}"
echo "plot: $RUN/tradeoff/tradeoff.png; reliability diagram: $RUN/reliability.png"
