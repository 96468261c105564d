"""The command line: click wiring (`main`), the commands, and how their results are drawn.

Owns argument parsing, exit codes, terminal output, the stderr log handler and the crash log.
It is the only package that imports click. It may import everything below it: the faces
(`s3lync.api`), `s3lync.sync`, `s3lync.manifest` and the leaves; it reaches the store only
through `s3lync.sync`.
"""

from s3lync.cli.main import main

__all__ = ["main"]
