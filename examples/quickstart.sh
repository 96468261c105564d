#!/usr/bin/env bash
# Quickstart: start a throwaway local S3 server (rclone serve s3), seed a dataset, and run the
# main job — `s3lync plan` then `s3lync apply` of examples/datasets.yaml — then the library API.
# Works on a fresh clone: without a Python that runs this checkout (and has the rclone binary of
# `.[dev]`), it creates or reuses .venv and installs it first (.ci/python.sh). Leaves nothing behind.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../.ci/python.sh
. "$here/../.ci/python.sh"
py=$(s3lync_python "$(cd "$here/.." && pwd)")
rclone=$(command -v rclone || true)
[ -n "$rclone" ] || rclone="$(dirname "$($py -c 'import sys; print(sys.executable)')")/rclone"
work=$(mktemp -d)
port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# rclone serves every folder of its root as a bucket: seed bucket "quickstart" straight on disk.
mkdir -p "$work/s3/quickstart/datasets/v3/images" "$work/job"
for i in 1 2 3; do echo "sample $i" > "$work/s3/quickstart/datasets/v3/images/img$i.txt"; done
echo "id,label" > "$work/s3/quickstart/datasets/v3/labels.csv"
echo "scratch" > "$work/s3/quickstart/datasets/v3/upload.tmp"

: > "$work/rclone.conf"
RCLONE_CONFIG="$work/rclone.conf" "$rclone" serve s3 --addr "127.0.0.1:$port" \
  --auth-key quickstart,quickstart-secret "$work/s3" >"$work/rclone.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do
  (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

export AWS_ACCESS_KEY_ID=quickstart AWS_SECRET_ACCESS_KEY=quickstart-secret
export AWS_REGION=us-east-1 AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export XDG_CACHE_HOME="$work/cache"
cp "$here/datasets.yaml" "$work/job/s3lync.yaml"
cd "$work/job"

echo "== s3lync validate";  $py -m s3lync validate
echo "== s3lync plan";      $py -m s3lync plan
echo "== s3lync apply";     $py -m s3lync apply
echo "== s3lync plan (nothing left to do)"
$py -m s3lync plan --detailed-exitcode
find data -type f | sort

echo "== library"
$py - <<'PY'
from s3lync import S3Object

report = S3Object("s3://quickstart/reports/summary.txt", local_path="reports/summary.txt")
with report.open("w") as f:          # written locally, uploaded on a clean exit
    f.write("3 images, 1 label file\n")
print("exists:", report.exists())

dataset = S3Object("s3://quickstart/datasets/v3/")
print("downloaded to", dataset.download())      # smart sync into ~/.cache/s3lync (XDG)
with S3Object("s3://quickstart/datasets/v3/labels.csv").open("r") as f:
    print("labels.csv:", f.read().strip())
PY
echo "quickstart: OK"
