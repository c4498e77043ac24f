#!/usr/bin/env bash
# Proves the app deploys: requirements.txt resolves in a FRESH virtual environment of the Python version
# Streamlit Community Cloud uses, and `streamlit run app.py` then starts and answers its health check.
#
#   scripts/check_deploy.sh            # Python 3.12, Community Cloud's documented default
#   scripts/check_deploy.sh 3.11       # the version the README tells you to pick under Advanced settings
#   scripts/check_deploy.sh --resolve  # resolve requirements.txt with uv, as Cloud does, for Python 3.11,
#                                      # 3.12 and 3.13 on Cloud's platform (Linux x86_64), without those
#                                      # interpreters: uv resolves for a version it does not have
#
# Community Cloud lets you choose the Python version under "Advanced settings" when deploying; its docs
# give 3.12 as the default. The script needs `python3.X` on PATH; when it is absent it says so and exits 2
# (it does not fall back silently to another version, so a green run always means that exact version).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [[ "${1:-}" == "--resolve" ]]; then
    # Community Cloud installs with uv first (pip only if uv fails). uv is fetched into a throwaway
    # environment when it is not on PATH.
    UV="$(command -v uv || true)"
    TOOLS="$(mktemp -d -t lecture-lab-uv-XXXXXX)"
    trap 'rm -rf "${TOOLS}"' EXIT
    if [[ -z "${UV}" ]]; then
        python3 -m venv "${TOOLS}/venv" && "${TOOLS}/venv/bin/pip" install --quiet uv
        UV="${TOOLS}/venv/bin/uv"
    fi
    echo "== $("${UV}" --version): requirements.txt for Community Cloud's platform (x86_64-manylinux_2_28)"
    for version in 3.11 3.12 3.13; do
        "${UV}" pip compile "${REPO_ROOT}/requirements.txt" --python-version "${version}" \
            --python-platform x86_64-manylinux_2_28 --no-header --quiet -o "${TOOLS}/resolved-${version}.txt"
        torch_line="$(grep -E '^torch==' "${TOOLS}/resolved-${version}.txt")"
        cuda="$(grep -cE '^nvidia-' "${TOOLS}/resolved-${version}.txt" || true)"
        echo "   Python ${version}: $(grep -c '==' "${TOOLS}/resolved-${version}.txt") packages, ${torch_line}, ${cuda} nvidia-* CUDA packages"
    done
    echo "check_deploy: OK: requirements.txt resolves with uv for Python 3.11, 3.12 and 3.13"
    exit 0
fi

PYTHON_VERSION="${1:-3.12}"
INTERPRETER="python${PYTHON_VERSION}"
# A pyenv shim exists for versions that are not active, so ask the interpreter itself.
if ! "${INTERPRETER}" -c 'import venv' >/dev/null 2>&1; then
    echo "check_deploy: python${PYTHON_VERSION} is not installed here." >&2
    echo "  Install it (e.g. pyenv install ${PYTHON_VERSION}, or apt-get install python${PYTHON_VERSION}-venv)," >&2
    echo "  or check the version you will pick on Community Cloud: scripts/check_deploy.sh 3.11" >&2
    exit 2
fi

WORK="$(mktemp -d -t lecture-lab-deploy-XXXXXX)"
SERVER_PID=""
cleanup() {
    if [[ -n "${SERVER_PID}" ]]; then kill "${SERVER_PID}" 2>/dev/null || true; wait "${SERVER_PID}" 2>/dev/null || true; fi
    rm -rf "${WORK}"
}
trap cleanup EXIT

echo "== fresh virtual environment: $("${INTERPRETER}" --version) in ${WORK}/venv"
"${INTERPRETER}" -m venv "${WORK}/venv"
VENV_PY="${WORK}/venv/bin/python"
"${VENV_PY}" -m pip install --quiet --upgrade pip
echo "== pip install -r requirements.txt (what Community Cloud runs)"
started=${SECONDS}
"${VENV_PY}" -m pip install --quiet --no-cache-dir -r "${REPO_ROOT}/requirements.txt"
echo "   installed in $((SECONDS - started)) s, venv $(du -sh "${WORK}/venv" | cut -f1)"
"${VENV_PY}" -m pip check

PORT="$("${VENV_PY}" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
echo "== streamlit run app.py on port ${PORT}"
# No models anywhere and the Hub switched off: the app must still start; pages say which model is missing.
(
    cd "${REPO_ROOT}"
    HF_HOME="${WORK}/hf" HF_HUB_OFFLINE=1 LECTURE_LAB_MODEL_DIR="${WORK}/no-models" \
        exec "${VENV_PY}" -m streamlit run app.py --server.port "${PORT}" --server.address 127.0.0.1 \
        --server.headless true --browser.gatherUsageStats false --server.fileWatcherType none
) >"${WORK}/streamlit.log" 2>&1 &
SERVER_PID=$!

for _ in $(seq 1 120); do
    if ! kill -0 "${SERVER_PID}" 2>/dev/null; then
        echo "check_deploy: streamlit exited early:" >&2; cat "${WORK}/streamlit.log" >&2; exit 1
    fi
    if [[ "$(curl -fsS "http://127.0.0.1:${PORT}/_stcore/health" 2>/dev/null)" == "ok" ]]; then
        # Health answers before any page runs: also import what the pages import, in this environment.
        (cd "${REPO_ROOT}" && "${VENV_PY}" -c "import models.loading, ui.loaders, ui.sidebar, open_clip, transformers, plotly, sklearn")
        echo "check_deploy: OK: Python ${PYTHON_VERSION}, requirements resolved, /_stcore/health answered 'ok'"
        exit 0
    fi
    sleep 1
done
echo "check_deploy: no answer from /_stcore/health within 120 s:" >&2
cat "${WORK}/streamlit.log" >&2
exit 1
