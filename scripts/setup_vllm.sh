#!/usr/bin/env bash
# vLLM's CPU build in its own virtual environment, .vllm-venv, for the tests that run the Generation page against a
# real vLLM server. Idempotent: nothing happens when the environment already matches requirements-vllm.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.vllm-venv
STAMP="$VENV/.installed-from"
WANTED="$(sha256sum requirements-vllm.txt | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANTED" ] && "$VENV/bin/python" -c "import vllm" 2>/dev/null; then
    exit 0
fi
echo "Setting up vLLM (CPU build) in $VENV…"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q -r requirements-vllm.txt
# PyPI's torchvision, torchaudio and torchcodec come along but fail to import beside this torch, and vLLM then
# fails at start-up; serving a text model needs none of them.
"$VENV/bin/pip" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
"$VENV/bin/python" -c "import vllm; print('vLLM', vllm.__version__, 'ready in $VENV')"
echo "$WANTED" > "$STAMP"
