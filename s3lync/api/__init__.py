"""The library's faces: `S3Object`, `AsyncS3Object`, and the progress they can draw.

Owns argument handling for library callers (names, defaults, 0.4 compatibility) and turns one
call into mappings for `s3lync.sync.engine`. It may import `s3lync.sync`, `s3lync.manifest`,
`s3lync.localfs` and the leaves; never click, never `s3lync.cli`, and never a store client
directly: the engine builds those.
"""
