"""The sync engine: plan a mapping, then carry the plan out, with verdicts on every byte moved.

Owns the plan model (`plan`), the pure planner and integrity verdicts (`planner`, `integrity`:
no I/O, no transport imports), the executor with its guards and policy (and `fanout`, which shares a large batch of
small transfers with worker processes), lock files and shards,
and `engine`, the one entry point both the CLI and the library call. It may import
`s3lync.store`, `s3lync.localfs`, `s3lync.manifest` and the leaves; never `s3lync.api` or
`s3lync.cli`.
"""
