"""What a failed request means to a user: every store failure as one of s3lync's errors.

Both store implementations raise the same things (wire.AnswerError, WireError, retry.Exhausted,
botocore's own exceptions for what only botocore says), and :func:`describe` turns each into a
one-line :class:`~s3lync.errors.S3lyncError` naming the action, bucket and key, the same words
whichever implementation sent the request.
"""

from __future__ import annotations

from s3lync.errors import (
    BadResponseError,
    HashMismatchError,
    RemoteNotFoundError,
    S3lyncError,
    SyncError,
    TransferCancelledError,
    WireError,
)
from s3lync.redact import redact_url
from s3lync.store.retry import Exhausted
from s3lync.store.wire import AnswerError, Cancelled


def describe(
    exc: BaseException, action: str, bucket: str, key: str | None, where: str
) -> S3lyncError:
    """``exc`` (from either store implementation) as s3lync's error; ``where`` is the endpoint."""
    from s3lync.store.fast import MissingCredentials

    label = s3_label(bucket, key)
    if isinstance(exc, S3lyncError):
        return exc
    if isinstance(exc, Cancelled):
        return TransferCancelledError(f"{action} {label}: cancelled")
    if isinstance(exc, Exhausted):
        if isinstance(exc.last, AnswerError):
            last = describe(exc.last, action, bucket, key, where)
            if isinstance(last, BadResponseError):
                return last  # not an S3 answer at all: that, not the retries, is the news
        # The cause users see is the network's (a timeout, a reset), not the retry loop's.
        return SyncError(redact_url(str(exc)))
    if isinstance(exc, WireError):
        return SyncError(redact_url(f"{action} {label}: {exc}"))
    if isinstance(exc, MissingCredentials):
        return SyncError(f"{action} {label}: {_NO_CREDENTIALS}")
    if isinstance(exc, AnswerError):
        answered = answer_error(exc, action, bucket, key)
        if isinstance(answered, BadResponseError) and where not in str(answered):
            answered = BadResponseError(f"{answered} (endpoint {redact_url(where)})")
        return answered
    err = translate(exc, bucket, key, action)
    if type(err) in (SyncError, BadResponseError) and redact_url(where) not in str(err):
        err = type(err)(f"{err} (endpoint {redact_url(where)})")
    return err


def answer_error(exc: AnswerError, action: str, bucket: str, key: str | None) -> SyncError:
    """An S3 error answer as s3lync's error (the rules botocore's ClientError gets too)."""
    where = s3_label(bucket, key)
    code, status, msg, ctype = exc.code or "Unknown", exc.status, exc.message, exc.content_type
    if (
        ctype
        and "xml" not in ctype
        and (code.isdigit() or code == "Unknown")
        and status not in range(300, 500)  # a body-less HEAD 404 is not one
    ):
        # Not an S3 answer (an HTML portal page, a JSON API).
        return BadResponseError(
            f"{action} {where}: the endpoint's answer is not an S3 answer (HTTP {status}, {ctype})"
        )
    if code == "NoSuchBucket":
        return RemoteNotFoundError(f"{action} {where}: bucket '{bucket}' does not exist")
    if code in ("NoSuchKey", "404", "NotFound"):
        return RemoteNotFoundError(f"{action} {where}: no such key")
    if (
        code
        in (
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "InvalidToken",
            "ExpiredToken",
            "AccessDenied",
            "403",
        )
        or status == 403
    ):
        return SyncError(
            f"{action} {where}: access denied ({code}); check the credentials, profile "
            "and permissions"
        )
    detail = f": {msg}" if msg else ""
    return SyncError(f"{action} {where} failed: {code} (HTTP {status}){detail}")


_NO_CREDENTIALS = (
    "no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a "
    "credentials file)"
)


def s3_label(bucket: str, key: str | None) -> str:
    """``s3://bucket/key`` (or ``s3://bucket``) for messages."""
    return f"s3://{bucket}/{key}" if key is not None else f"s3://{bucket}"


def translate(exc: BaseException, bucket: str, key: str | None, action: str) -> S3lyncError:
    """Turn a botocore/s3transfer exception into a one-line error naming bucket and key.

    Errors of s3lync's own (a configuration error, a bad answer) pass through unchanged; URLs
    in messages lose their userinfo and secret query values.
    """
    if isinstance(exc, S3lyncError):
        return exc
    err = _translate(exc, bucket, key, action)
    text = redact_url(str(err))
    return err if text == str(err) else type(err)(text)


def _translate(exc: BaseException, bucket: str, key: str | None, action: str) -> SyncError:
    import botocore.exceptions as bex
    from botocore.parsers import ResponseParserError

    where = s3_label(bucket, key)
    if isinstance(exc, bex.ClientError):
        from s3lync.store.boto import as_wire

        answer = as_wire(exc, "")
        assert isinstance(answer, AnswerError)
        return answer_error(answer, action, bucket, key)
    if isinstance(exc, bex.FlexibleChecksumError):
        return HashMismatchError(f"{action} {where}: response checksum mismatch ({exc})")
    if isinstance(exc, (bex.NoCredentialsError, bex.PartialCredentialsError)):
        return SyncError(
            f"{action} {where}: no AWS credentials found (set AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a credentials file)"
        )
    if isinstance(exc, ResponseParserError):
        return BadResponseError(
            f"{action} {where}: the endpoint's answer is not an S3 answer ({_first_line(exc)})"
        )
    if isinstance(exc, (bex.EndpointConnectionError, bex.ConnectTimeoutError)):
        return SyncError(f"{action} {where}: cannot reach the S3 endpoint ({exc})")
    if isinstance(exc, bex.BotoCoreError):
        return SyncError(f"{action} {where} failed: {exc}")
    text = str(exc).replace("\n", " ")
    name = type(exc).__name__
    if "NoSuchBucket" in text:
        return RemoteNotFoundError(f"{action} {where}: bucket '{bucket}' does not exist")
    if isinstance(exc, OSError) and not isinstance(exc, ConnectionError):
        return SyncError(f"{action} {where} failed locally: {exc.strerror or text}")
    return SyncError(f"{action} {where} failed: {name}: {text}")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
