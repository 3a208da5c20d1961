#!/usr/bin/env bash
# One command for a lent GPU machine (after `make gpu-prep` here; README "On a GPU machine"):
# installs the carried wheels (.whl/) into /tmp/site, runs the GPU-marked tests on the
# prebuilt demo builds (.gpu/builds, via $AVPREP_TEST_BUILDS), then the training benchmark
# (benchmarks/bench_train.py) for each method's stages on CUDA. Each part has its own time
# limit and a failed part does not stop the next; a compact summary ends the output.
# Logs and JSON go to $OUT (7 flat files): env.txt pytest.log bench.log bench_{davs,cran,
# dvae}.json summary.txt.
#
#   bash benchmarks/gpu_session.sh [--cpu-dry-run] [--parts tests,davs,cran,dvae]
#
# --cpu-dry-run: the same install and the same tests (they skip without CUDA, so this checks
# that they are collected and import), the CPU tests of test_training_loop.py on the prebuilt
# demo_build, then a 1-step CPU benchmark of every stage (batch 2). `make gpu-dry-run` runs it
# in a venv standing in for the device image.
# Environment: PYTHON (python3), OUT, GPU_WHEELS (.whl), GPU_SITE (/tmp/site), STEPS, WARMUP,
# T_TESTS, T_TEST, T_DAVS, T_CRAN, T_DVAE (seconds).
#
# Sizing (about 8 min on one H200, inside the tool's 10-min command limit): install ~15 s;
# the 14 GPU tests (3 skip there: no dlib) are single full-size steps or small runs, the
# slowest the torch.compile one (Inductor builds its kernels: a minute or two): ~2-3 min,
# capped at T_TESTS=200 s (T_TEST=150 s per test). The benchmark trains each stage at its
# default batch (16 for DAVS and CRAN; partial at epoch ends) for STEPS=20 steps, the first
# WARMUP=5 not timed, with 2 loader workers (see below). On CPU one full-size step at batch 2
# took 0.15-32 s on 2 cores; an H200 is some hundreds of times faster, so a step is ~0.1-0.5
# s there (or the loader's pace) and each stage costs ~10-30 s with its start-up (CUDA
# context, model build, workers): DAVS and CRAN (3 stages each) ~1-1.5 min, DVAE under 1
# min, capped at 100/100/70 s. bench_train.py rewrites its JSON after every stage, so a cap
# that cuts a method short keeps the stages done. Worst case (every cap reached, +10 s each
# to kill, install and import check ~45 s) ~9.3 min; expect 6-8. Rerun one part on a
# still-warm machine with --parts (e.g. --parts cran).
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
DRY=0
PARTS=tests,davs,cran,dvae
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu-dry-run) DRY=1 ;;
    --parts) PARTS=$2; shift ;;
    *) echo "usage: $0 [--cpu-dry-run] [--parts tests,davs,cran,dvae]" >&2; exit 2 ;;
  esac
  shift
done
PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/avprep-gpu-session}
WHEELS=${GPU_WHEELS:-$ROOT/.whl}
SITE=${GPU_SITE:-/tmp/site}
BUILDS=$ROOT/.gpu/builds
STEPS=${STEPS:-20}
WARMUP=${WARMUP:-5}
if [ $DRY = 1 ]; then D=900; else D=; fi  # a 2-core CPU takes minutes for one full-size step
T_TESTS=${T_TESTS:-${D:-200}}
T_TEST=${T_TEST:-${D:-150}}
declare -A T_BENCH=(
  [davs]=${T_DAVS:-${D:-100}} [cran]=${T_CRAN:-${D:-100}} [dvae]=${T_DVAE:-${D:-70}}
)
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg AVPREP_TEST_BUILDS=$BUILDS
export AVPREP_HOME=/tmp/avprep-gpu-home
SUMMARY=()
START=$SECONDS
has() { [[ ",$PARTS," == *",$1,"* ]]; }

# --- install (the device notes' exact line) and what the machine is
{
  echo "== install $(date -u +%FT%TZ)"
  if $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$SITE" "$WHEELS"/*.whl; then
    SUMMARY+=("install: ok ($(ls "$WHEELS"/*.whl | wc -l) wheels)")
  else
    SUMMARY+=("install: FAILED (see env.txt)")
  fi
} > "$OUT/env.txt" 2>&1
export PYTHONPATH=$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}
{
  echo "== machine"
  nvidia-smi -L 2>&1 | head -4
  $PY - <<'EOF'
import platform, torch
print("python", platform.python_version(), "torch", torch.__version__,
      "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(), torch.cuda.get_device_capability())
import av, soundfile, webdataset, jsonschema, python_speech_features, soxr  # carried
import click, cv2, pyarrow, torchmetrics, sklearn, tqdm, jinja2, matplotlib  # the image's
import avprep.reader, models.training, models.generate  # no Beam, dlib or pocketsphinx
for name in ("apache_beam", "dlib", "pocketsphinx"):
    import importlib.util
    print(name, "present" if importlib.util.find_spec(name) else "absent")
print("imports ok")
EOF
} >> "$OUT/env.txt" 2>&1 || true
tail -n 3 "$OUT/env.txt" | grep -q "imports ok" && SUMMARY+=("imports: ok") \
  || SUMMARY+=("imports: FAILED (see env.txt)")

# --- the GPU-marked tests
GPU_TESTS=(
  tests/features/test_torch_features.py
  tests/models/cran/test_gpu.py
  tests/models/davs/test_davs_networks.py
  tests/models/dvae/test_dvae_training.py
  tests/models/eval/test_image_quality.py
  tests/models/eval/test_representation.py
  tests/models/eval/test_syncnet.py
  tests/models/test_generate.py
  tests/models/test_generate_methods.py
  tests/models/training/test_training_loop.py
)
if has tests; then
  t0=$SECONDS
  timeout -k 10 "$T_TESTS" $PY -m pytest -m gpu -v -ra -p no:cacheprovider \
    --timeout="$T_TEST" --basetemp=/tmp/pt-gpu-session "${GPU_TESTS[@]}" > "$OUT/pytest.log" 2>&1
  rc=$?
  last=$(grep -E "(passed|failed|skipped|error|no tests ran)" "$OUT/pytest.log" | tail -n 1 \
    | tr -d '=' | sed 's/^ *//')
  SUMMARY+=("tests: rc=$rc in $((SECONDS - t0)) s: ${last:-no result line (timeout?)}")
  if [ $DRY = 1 ]; then
    # the GPU tests skip here before their fixtures run: check the prebuilt demo_build with
    # the same file's CPU tests (the loader and the training core on it, no Beam)
    $PY -m pytest -m "not gpu" -q -p no:cacheprovider --basetemp=/tmp/pt-gpu-session \
      tests/models/training/test_training_loop.py >> "$OUT/pytest.log" 2>&1
    rc=$?
    SUMMARY+=("prebuilt demo_build (CPU tests of test_training_loop.py): rc=$rc: $(tail -n 1 \
      "$OUT/pytest.log" | tr -d '=' | sed 's/^ *//')")
  fi
fi

# --- the training benchmark, one method per process
if [ $DRY = 1 ]; then
  BENCH_ARGS=(--device cpu --steps 1 --warmup 0 --batch-size 2 --workers 1)
  NOTE="CPU dry run of benchmarks/gpu_session.sh: 1 step, batch 2"
else
  # 2 loader workers: the demo holds 22 training clips in 11 shards, which the workers split
  # between them; each worker's epoch ends in a partial batch, so more workers would only
  # mean smaller batches (the JSON has the mean clips per step and the compute time per step)
  BENCH_ARGS=(--device cuda --steps "$STEPS" --warmup "$WARMUP" --workers 2)
  NOTE="benchmarks/gpu_session.sh: demo builds (talking + words/identities), $STEPS steps,"
  NOTE+=" first $WARMUP untimed, default batch (partial at epoch ends), 2 workers"
fi
: > "$OUT/bench.log"
for m in davs cran dvae; do
  has "$m" || continue
  t0=$SECONDS
  echo "== $m $(date -u +%FT%TZ)" >> "$OUT/bench.log"
  timeout -k 10 "${T_BENCH[$m]}" $PY benchmarks/bench_train.py "${BENCH_ARGS[@]}" --method "$m" \
    --data "$BUILDS/demo_build" --data "$BUILDS/demo_words" --work /tmp/avprep-bench-gpu \
    --note "$NOTE" --out "$OUT/bench_$m.json" >> "$OUT/bench.log" 2>&1
  rc=$?
  SUMMARY+=("bench $m: rc=$rc in $((SECONDS - t0)) s$([ $rc = 124 ] && echo ' (time limit)')")
done

# --- summary
{
  echo "== summary ($([ $DRY = 1 ] && echo CPU dry run || echo GPU), $((SECONDS - START)) s)"
  printf '%s\n' "${SUMMARY[@]}"
  if has tests; then grep -E "^(FAILED|ERROR|SKIPPED)" "$OUT/pytest.log" | cut -c1-160; fi
  $PY - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
for path in sorted(Path(sys.argv[1]).glob("bench_*.json")):
    report = json.loads(path.read_text())
    for r in report["results"]:
        print(f"  {r['method']}/{r['stage']}: {r['steps_per_s']} steps/s, {r['clips_per_s']} "
              f"clips/s, {r.get('compute_seconds_per_step')} s compute/step, data wait "
              f"{100 * r['data_wait_fraction']:.0f}% (batch {r['batch_size']}, mean "
              f"{r.get('mean_clips_per_step')})")
    for s in report["skipped"]:
        print(f"  {s['method']}/{s['stage']}: SKIPPED {str(s['why'][0])[:120]}")
EOF
} > "$OUT/summary.txt" 2>&1
cat "$OUT/summary.txt"
