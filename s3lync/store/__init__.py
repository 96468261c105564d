"""The S3 side: clients from the boto3 configuration chain, list/head/get/put/delete, transfers.

Owns everything that talks to a store: botocore/boto3 (the only importers) and s3lync's own
urllib3 request path resolved from the same botocore session, behind one interface (wire.py),
with one retry policy, one scheduler, the upload and download pipelines, signing and the evidence
a store returns about an object (`evidence`, `objects`: plain data, importable without loading any
transport). It may import `s3lync.localfs` helpers for hashing and the leaves; never
`s3lync.sync`, `s3lync.api` or `s3lync.cli`.
"""
