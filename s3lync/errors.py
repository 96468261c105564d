"""The s3lync exception hierarchy: one root, each error also inheriting the matching builtin."""

from __future__ import annotations


class S3lyncError(Exception):
    """Root of every error s3lync raises on purpose."""


class InvalidURIError(S3lyncError, ValueError):
    """An ``s3://`` URI that cannot be parsed or names an invalid bucket."""


class ConfigError(S3lyncError, ValueError):
    """The AWS or s3lync configuration cannot be used: an unknown AWS profile, an endpoint URL with
    credentials in it, a setting given in code (``Config.set_*``) that cannot be used."""


class S3ObjectError(S3lyncError):
    """Bad local state or input: a missing local path, an unsafe key, a wrong argument."""


class LocalPathNotFoundError(S3ObjectError, FileNotFoundError):
    """The local file or folder to upload does not exist."""


class ObjectExistsError(S3ObjectError, FileExistsError):
    """``open("x")`` of an object that already exists in the store."""


class UnsafeKeyError(S3ObjectError):
    """One or more remote keys would land outside the local root and were refused."""


class ManifestError(S3lyncError, ValueError):
    """An ``s3lync.yaml`` that cannot be loaded; ``errors`` holds every problem found."""

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors: list[str] = list(errors) if errors else [message]


class SyncError(S3lyncError):
    """A transfer or S3 call failed (network, AccessDenied, NoSuchBucket); the cause is chained."""


class RemoteNotFoundError(SyncError, FileNotFoundError):
    """The bucket, object or prefix does not exist on the remote side."""


class HashMismatchError(SyncError):
    """An integrity check failed: the bytes do not match the MD5/ETag they should have."""


class UnverifiedError(SyncError):
    """Strict mode (``check_hash="strict"``): a transfer could not be verified either way."""


class BadResponseError(SyncError):
    """The endpoint answered, but not as S3 does (an HTML page, no XML root, a PUT without ETag)."""


class TransferCancelledError(SyncError):
    """A transfer stopped because the run was interrupted."""


class EndpointDownError(SyncError):
    """A transfer was not started: earlier transfers to its endpoint kept failing on the network."""


class PlanStaleError(S3lyncError):
    """A saved plan no longer matches the world it is applied to, or a target changed under it."""

    @classmethod
    def target_changed(cls, action: str, target: str, why: str) -> PlanStaleError:
        """A target that changed since it was planned and was therefore left as it was."""
        return cls(
            f"{action} {target}: {why} since it was planned; it was left as it was "
            "(stale plan: run `s3lync plan` again)"
        )


class LockedError(S3lyncError):
    """Another s3lync run holds the lock for the same manifest."""


class ApplyRefusedError(S3lyncError):
    """An apply was refused before anything changed (deletion limits, confirmation, empty source).

    ``setting`` is (name, value, the words naming it in the message) of the limit that refused it,
    so the CLI can name its own flag instead; None otherwise.
    """

    setting: tuple[str, str, str] | None = None


class WireError(Exception):
    """The lean client's request or response failed on the network (reset, timeout, bad reply).

    Internal: the lean client retries it or turns it into a :class:`SyncError`. ``final`` marks
    failures another attempt cannot fix, such as a certificate that does not verify; ``unsent``
    those where no connection was made, so the request certainly never reached the store.
    """

    def __init__(
        self,
        message: str,
        cause: BaseException | None = None,
        *,
        final: bool = False,
        unsent: bool = False,
    ) -> None:
        super().__init__(message)
        self.cause = cause
        self.final = final
        self.unsent = unsent
