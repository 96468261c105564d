"""``python -m s3lync``."""

from s3lync.cli import main

if __name__ == "__main__":
    main()
