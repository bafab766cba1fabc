#!/usr/bin/env bash
# Install tinker-cookbook 0.6.1 and the official client into a venv of its own.
# The cookbook pins tml-renderers>=0.4.1, which no index serves; it is only imported for
# Inkling/Kimi models, so the cookbook goes in with --no-deps after its real needs
# (docs: /work/shared/spec/cookbook-offline.md, section 1). A separate venv keeps its
# torch/transformers resolution away from the project's own venv.
set -euo pipefail
VENV="${1:?usage: install.sh VENV_DIR}"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.installed-cookbook"
[ -f "$STAMP" ] && exit 0
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/pip" install --disable-pip-version-check --quiet)
"${PIP[@]}" "torch==2.13.0" "tinker==0.38.0" aiohttp anyio blobfile chz cloudpickle datasets \
  huggingface-hub numpy pillow pydantic pyrage rich safetensors termcolor tiktoken tqdm \
  "transformers>=4.57.6,!=5.3.0,!=5.4.*,!=5.5.0,!=5.5.1,!=5.5.2,!=5.5.3,!=5.6.*" \
  "math-verify>=0.5.0" "pylatexenc>=2.0" "sympy>=1.12.0"
"${PIP[@]}" --no-deps "tinker-cookbook==0.6.1"
touch "$STAMP"
