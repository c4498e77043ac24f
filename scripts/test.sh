#!/usr/bin/env bash
# The whole test suite from a fresh clone, in one command: Debian's Chromium (with the fonts the screenshots need),
# the dev requirements in .venv, vLLM's CPU build in .vllm-venv, then pytest. Idempotent: a step already done is
# skipped, so a second run starts testing within seconds. Arguments go to pytest (e.g. `-k generation`).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# 1. Chromium for the end-to-end tests (Playwright drives Debian's /usr/bin/chromium); the Noto fonts make emoji and
#    CJK test text render as glyphs in screenshots.
APT_PACKAGES=(chromium fonts-noto-color-emoji fonts-noto-cjk)
if ! dpkg -s "${APT_PACKAGES[@]}" >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    as_root apt-get install -y -qq "${APT_PACKAGES[@]}" >/dev/null
fi
chromium --version

# 2. The app's and the tests' requirements, in .venv (reinstalled only when a requirements file changes).
STAMP=.venv/.installed-from
WANTED="$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANTED" ]; then
    .venv/bin/pip install -q -r requirements-dev.txt
    echo "$WANTED" > "$STAMP"
fi

# 3. vLLM's CPU build in its own environment (it pins another torch), for the generation-server tests.
bash scripts/setup_vllm.sh

# 4. The tests.
exec .venv/bin/python -m pytest "$@"
