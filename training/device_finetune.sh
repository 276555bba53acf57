#!/usr/bin/env bash
# The recognizer's full fine-tune (train_recognizer.py's default recipe) on a GPU machine that
# has PyTorch but not this project's training packages nor the dataset (the device machine of
# training/README.md, "On a GPU").
# Run from the repository root with the packed dataset in .gsd/ and the two efficientnet wheels
# in .whl/; the checkpoint and the log are written to $OUT (the device tool brings them back).
#
#   OUT=... bash training/device_finetune.sh [more train_recognizer.py options]
#   env: PYTHON (python3), DEVICE (cuda), SIZE (224), EPOCHS (30), WORKERS (14)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder the checkpoint goes to}"
PYTHON=${PYTHON:-python3}
"$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/dashcart-site .whl/*.whl
export PYTHONPATH=/tmp/dashcart-site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; fi
# --slim-final: the last checkpoint without the optimizer state, float16 (7-10 MB; $OUT files come back up to 16 MiB)
"$PYTHON" -m training.train_recognizer --device "${DEVICE:-cuda}" --data .gsd --out "$OUT/recognizer.pt" \
    --cache /tmp/dashcart-decoded --slim-final --store-size 224 \
    --image-size "${SIZE:-224}" --epochs "${EPOCHS:-30}" --batch 64 --lr 5e-4 --workers "${WORKERS:-14}" "$@" \
    2>&1 | tee "$OUT/train.log"
