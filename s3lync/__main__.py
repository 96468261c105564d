"""``python -m s3lync``."""

from s3lync.cli.main import main

if __name__ == "__main__":
    main()
