#!/usr/bin/env bash
# The measuring protocol of the CPU and serving results pages (docs/results/cpu.md, docs/results/serving.md)
# for one calibrated classifier archive (fp32 and `--quantize int8` calibration stored), one step after the
# other, with nothing else running on the machine. Run it from the repository root with the project's venv
# active (`allennlp` and `python` on PATH).
#
#   scripts/measure_where_models_run.sh NAME ARCHIVE TEST DEV [PEER_ALLENNLP]
#
# NAME           the folder name under docs/cpu/ and docs/serving/ (e.g. sst2, agnews)
# ARCHIVE        the calibrated archive
# TEST           labelled rows the model never saw (`text<TAB>label`; a `sentence<TAB>label` header is skipped)
# DEV            labelled rows whose texts the server is driven with, cycled (same format)
# PEER_ALLENNLP  the `allennlp` of an environment with allennlp-server 1.0 (docs/serving.md); optional
#
# Steps (STEPS="pick timing onnx profile serve saturate nowait" by default; set STEPS to redo some of them, the
# later steps read T and T8 from the recorded pick):
#   pick      allennlp tradeoff on TEST, fp32 and int8: the agreement policy's thresholds T (fp32) and T8 (int8)
#             within one point of the fp32 full model, by FLOPs               -> docs/cpu/NAME/tradeoff.json
#   timing    allennlp tradeoff --time on TEST's first 300 rows at T, T8, 1.0  -> docs/cpu/NAME/tradeoff_timed.json
#   onnx      scripts/benchmark_onnx.py --per-layer on the same 300 rows      -> docs/cpu/NAME/onnx.json
#   profile   scripts/profile_predict.py on the same 300 rows as JSON lines   -> docs/cpu/NAME/profile.json
#   serve     allennlp predict on DEV at 1.0 and T (the answers to compare), then scripts/load_test.py's four
#             variants (and allennlp-server with PEER_ALLENNLP) at 1, 4, 16, 64 clients
#                                                                             -> docs/serving/NAME/load.json
#   saturate  an open loop of variant c at twice the most requests/s it answered in load.json
#                                                                             -> docs/serving/NAME/saturation.json
#   nowait    variant c again with --max-wait-ms 0 (a batch forms from what waits whenever the model is free)
#                                                                             -> docs/serving/NAME/load_no_wait.json
# Intermediate files go to runs/measure_NAME/.
set -euo pipefail

if [[ $# -lt 4 ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2
    exit 2
fi
NAME=$1 ARCHIVE=$2 TEST=$3 DEV=$4 PEER=${5:-}
STEPS=${STEPS:-pick timing onnx profile serve saturate nowait}
WORK=runs/measure_$NAME
CPU=docs/cpu/$NAME
SERVING=docs/serving/$NAME
THRESHOLDS=0.5,0.6,0.7,0.75,0.8,0.85,0.9,0.93,0.95,0.97,0.98,0.99,1.0
mkdir -p "$WORK" "$CPU" "$SERVING"

step() { [[ " $STEPS " == *" $1 "* ]]; }
say() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# TSV rows -> the first N rows as TSV (header kept) and as `{"sentence": ...}` lines; N=all for every row.
rows() {  # rows SOURCE N TSV_OUT JSONL_OUT
    python - "$@" <<'EOF'
import json, sys
source, n, tsv_out, jsonl_out = sys.argv[1:]
with open(source, encoding="utf-8") as f:
    lines = [line for line in f.read().splitlines() if line.strip()]
header = lines[:1] if lines and lines[0].split("\t")[0] == "sentence" else []
body = lines[len(header):]
body = body if n == "all" else body[: int(n)]
with open(tsv_out, "w", encoding="utf-8") as f:
    f.write("".join(line + "\n" for line in header + body))
with open(jsonl_out, "w", encoding="utf-8") as f:
    f.write("".join(json.dumps({"sentence": line.split("\t")[0]}) + "\n" for line in body))
EOF
}

# The threshold the pick recorded for a policy key ("agreement" for fp32, "int8:agreement").
picked() {
    python -c 'import json, sys; print(json.load(open(sys.argv[1]))["meta"]["policies"][sys.argv[2]]["pick"]["threshold"])' \
        "$CPU/tradeoff.json" "$1"
}

rows "$TEST" 300 "$WORK/test300.tsv" "$WORK/inputs300.jsonl"
rows "$DEV" all "$WORK/dev.tsv" "$WORK/dev_inputs.jsonl"

if step pick; then
    say "pick: allennlp tradeoff on $TEST"
    allennlp tradeoff "$ARCHIVE" "$TEST" --output-dir "$WORK/pick" --policies agreement --precisions fp32,int8 \
        --max-accuracy-drop 1.0 --thresholds "$THRESHOLDS" --num-threads 2
    cp "$WORK/pick/tradeoff.json" "$CPU/tradeoff.json"
fi
T=$(picked agreement)
T8=$(picked int8:agreement)
say "thresholds: fp32 $T, int8 $T8"

if step timing; then
    say "timing: allennlp tradeoff --time on 300 rows"
    allennlp tradeoff "$ARCHIVE" "$WORK/test300.tsv" --output-dir "$WORK/timing" --policies agreement \
        --precisions fp32,int8 --time --max-accuracy-drop 1.0 --thresholds "$T,$T8,1.0" --num-threads 2 --batch-size 32
    cp "$WORK/timing/tradeoff.json" "$CPU/tradeoff_timed.json"
fi

if step onnx; then
    say "onnx: scripts/benchmark_onnx.py --per-layer"
    python scripts/benchmark_onnx.py "$ARCHIVE" "$TEST" --output "$CPU/onnx.json" --threshold "$T" \
        --int8-threshold "$T8" --batch-size 32 --num-threads 2 --max-rows 300 --per-layer
fi

if step profile; then
    say "profile: scripts/profile_predict.py"
    python scripts/profile_predict.py "$ARCHIVE" "$WORK/inputs300.jsonl" --output "$CPU/profile.json" \
        --variants "fp32=1.0,fp32=$T,int8=1.0,int8=$T8" --batch-sizes 1,32 --num-threads 2 --repeats 1
fi

if step serve || step saturate || step nowait; then
    for threshold in 1.0 "$T"; do
        if [[ ! -s "$WORK/expected_t$threshold.jsonl" ]]; then
            say "allennlp predict at threshold $threshold (the answers the server's are compared with)"
            # The threshold in every input, as the load generator sends it.
            python -c 'import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    print(json.dumps(dict(json.loads(line), threshold=float(sys.argv[2]))))' \
                "$WORK/dev_inputs.jsonl" "$threshold" > "$WORK/inputs_t$threshold.jsonl"
            allennlp predict "$ARCHIVE" "$WORK/inputs_t$threshold.jsonl" --output-file "$WORK/expected_t$threshold.jsonl" \
                --batch-size 1 --silent --include-package sledgehammer
        fi
    done
fi

if step serve; then
    say "serve: scripts/load_test.py, four variants${PEER:+ and allennlp-server}"
    python scripts/load_test.py --archive "$ARCHIVE" --variants --threshold "$T" --inputs "$WORK/dev_inputs.jsonl" \
        --output "$SERVING/load.json" --expected "1.0=$WORK/expected_t1.0.jsonl" "$T=$WORK/expected_t$T.jsonl" \
        --server-args "--num-threads 2" --concurrency 1 4 16 64 --requests 400 --duration 20 \
        --server-logs "$WORK/server_logs" ${PEER:+--peer-allennlp "$PEER"}
fi

if step saturate; then
    RATE=$(python -c '
import json, sys
variants = json.load(open(sys.argv[1]))["variants"]
best = max(run["requests_per_second"] for v in variants if v["letter"] == "c" for run in v["runs"])
print(round(2 * best, 1))' "$SERVING/load.json")
    REQUESTS=$(python -c "import math; print(math.ceil(20 * $RATE))")
    say "saturate: variant c, open loop at $RATE requests/s"
    python scripts/load_test.py --archive "$ARCHIVE" --variants c --threshold "$T" --inputs "$WORK/dev_inputs.jsonl" \
        --output "$SERVING/saturation.json" --expected "$T=$WORK/expected_t$T.jsonl" --server-args "--num-threads 2" \
        --rate "$RATE" --requests "$REQUESTS" --duration 20
fi
if step nowait; then
    say "nowait: variant c with --max-wait-ms 0"
    python scripts/load_test.py --archive "$ARCHIVE" --variants c --threshold "$T" --inputs "$WORK/dev_inputs.jsonl" \
        --output "$SERVING/load_no_wait.json" --expected "$T=$WORK/expected_t$T.jsonl" \
        --server-args "--num-threads 2 --max-wait-ms 0" --concurrency 1 4 16 64 --requests 400 --duration 20
fi
say "done: $CPU, $SERVING"
