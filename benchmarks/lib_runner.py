"""One s3lync library sync in a fresh interpreter, so import time counts as it does for CLI peers.

    python lib_runner.py current|legacy upload|download S3_URI LOCAL_DIR

``current`` is this checkout: ``S3Object(uri, local_path=..., endpoint_url=$AWS_ENDPOINT_URL)``.
``legacy`` is PyPI s3lync 0.4.2: its constructor takes no endpoint (only one embedded in the URI or
a ready boto3 client), so boto3 picks ``AWS_ENDPOINT_URL`` up from the environment; its progress
bars are switched off, and its default excludes (hidden paths, matched against the whole local
path) are replaced by one that never matches, as the data lives under benchmarks/.work/.
"""

import os
import sys


def main() -> int:
    flavour, direction, uri, local = sys.argv[1:5]
    from s3lync import S3Object

    if flavour == "legacy":
        never = r"(?!)"
        obj = S3Object(uri, local_path=local, excludes=[never], progress_mode="disabled")
    else:
        obj = S3Object(uri, local_path=local, endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    if direction == "upload":
        obj.upload()
    else:
        obj.download()
    return 0


if __name__ == "__main__":
    sys.exit(main())
