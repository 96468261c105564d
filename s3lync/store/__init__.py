"""The S3 side: clients from the boto3 configuration chain, list/head/get/put/delete, transfers.

Owns everything that talks to a store: botocore/boto3/s3transfer (the only importers), the lean
urllib3 path built from the same botocore session, retries, signing and the evidence a store
returns about an object (`evidence`, `objects`: plain data, importable without loading any
transport). It may import `s3lync.localfs` helpers for hashing and the leaves; never
`s3lync.sync`, `s3lync.api` or `s3lync.cli`.
"""
