"""The local side: scanning folders, temporary files and atomic replace, file locks, the hash cache.

Owns every write to the local file system: a download lands under a temporary name beside its
target and is renamed last; the SQLite hash cache is keyed by path and validated by an
(size, mtime_ns, ctime_ns, inode) fingerprint. It may import only the leaves (`errors`, `uri`,
`hashing`, `settings`); never `s3lync.store`, `s3lync.sync` or above.
"""
