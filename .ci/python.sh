# shellcheck shell=bash
# Sourced by examples/quickstart.sh and .ci/test, so that each works on a fresh clone with nothing
# installed. `s3lync_python ROOT` prints a Python that runs this checkout's s3lync with its
# dependencies, the test tools and the rclone binary: $PYTHON if set and able, else the active
# virtual environment's `python`, else the checkout's own venv ($S3LYNC_VENV, default ROOT/.venv),
# which is created (or reused) and filled with `pip install -e "ROOT[dev]"` when it cannot.

_s3lync_usable() {
  # Run from / so that the checkout's folder on sys.path cannot stand in for an installed package.
  (cd / && "$1" - "$2" 2>/dev/null <<'PY'
import os, shutil, sys
root = os.path.realpath(sys.argv[1]) + os.sep
import click, jsonschema, yaml, botocore, boto3, pytest, xdist, moto  # noqa: E401,F401
import s3lync
if not os.path.realpath(s3lync.__file__).startswith(root):
    sys.exit(1)  # another s3lync (e.g. PyPI's 0.4.2), not this checkout
beside = os.path.join(os.path.dirname(sys.executable), "rclone")
sys.exit(0 if os.access(beside, os.X_OK) or shutil.which("rclone") else 1)
PY
  ) >/dev/null
}

s3lync_python() {
  local root=$1
  local venv=${S3LYNC_VENV:-$root/.venv}
  local py
  for py in ${PYTHON:+"$PYTHON"} ${VIRTUAL_ENV:+"$VIRTUAL_ENV/bin/python"} "$venv/bin/python"; do
    if [ -x "$(command -v "$py" || true)" ] && _s3lync_usable "$py" "$root"; then
      echo "$py"
      return 0
    fi
  done
  local base=${PYTHON:-$(command -v python3 || command -v python)}
  if [ ! -x "$venv/bin/python" ]; then
    echo "s3lync: creating a virtual environment in $venv" >&2
    "$base" -m venv "$venv" >&2
  fi
  echo "s3lync: installing this checkout and its dev tools into $venv (pip install -e \".[dev]\")" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root[dev]" >&2
  if ! _s3lync_usable "$venv/bin/python" "$root"; then
    echo "s3lync: $venv/bin/python still cannot import s3lync and its tools; see the pip output above" >&2
    return 1
  fi
  echo "$venv/bin/python"
}
