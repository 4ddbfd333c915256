"""The one error tree of recvault.

Every layer raises from this tree; ``storage/`` translates third-party exceptions at its
seam (``raise SourceUnavailable(...) from exc``) so nothing above it sees httpx, botocore or
ffmpeg errors. ``retryable`` tells flows whether a later attempt can succeed; ``exit_code``
tells the CLI which status to exit with (documented in the README).

    RecvaultError                      exit 1
      ConfigError                      exit 2   bad settings, bad flags, bad dates
      SourceError                      exit 4   Infobip
        SourceUnavailable  (retryable)          connection errors, timeouts
          SourceRateLimited  (retryable)        429
          SourceServerError  (retryable)        5xx
        SourceAuthError                exit 3   401 / 403
        SourceBadRequest                        400
        SourceNotFound                          404
        SourceUnexpectedAnswer                  a status nobody documented: the recording waits
        RecordingNotReady  (retryable)          409 not prepared, media not final yet
        PreparationFailed                       video preparation ended FAILED
        SourceDeletionUnavailable               deletion off, or no route reaches it: due
        DownloadIntegrityError (retryable)      short body, bad Content-Range, size mismatch
        SourceChanged                           bytes differ between attempts
        DeletionNotConfirmed (retryable)        a DELETE answered, but reading back still
                                                finds the recording at the source
      StorageError                     exit 5   S3 and the work dir
        ObjectStoreError (retryable)
        BucketNotFound
        BucketPolicyError                       bucket lacks a feature the policy needs
        ChecksumMismatch                        archived bytes differ from downloaded bytes
        ArchiveNotVerified                      re-verification before a source deletion failed
        WorkDirError                            not writable, full
      CatalogError                     exit 6
        CatalogUnavailable (retryable)
        CatalogLocked                           another archive run holds the catalog
        RecordingNotFound              exit 10  no such recording (id or id prefix) in the catalog
      MediaError                                ffprobe/ffmpeg failed; carries stderr tail
        MediaTimeout (retryable)                ffprobe/ffmpeg did not finish in time: the
                                                machine's problem, retried, never a quarantine
        MediaToolMissing               exit 2   ffprobe/ffmpeg not installed: the run stops
      PolicyError                      exit 7
        LegalHoldActive
        RetentionNotExpired
"""

from __future__ import annotations

from typing import ClassVar


class RecvaultError(Exception):
    retryable: ClassVar[bool] = False
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(RecvaultError):
    exit_code = 2


# --- source (Infobip) -------------------------------------------------------------------------


class SourceError(RecvaultError):
    exit_code = 4

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class SourceUnavailable(SourceError):
    retryable = True


class SourceRateLimited(SourceUnavailable):
    def __init__(
        self, message: str, *, status_code: int | None = 429, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after_s = retry_after_s


class SourceServerError(SourceUnavailable):
    pass


class SourceAuthError(SourceError):
    exit_code = 3


class SourceBadRequest(SourceError):
    pass


class SourceNotFound(SourceError):
    pass


class SourceUnexpectedAnswer(SourceError):
    """An answer no Infobip source documents (an unknown status code): not the recording's
    fault, so it waits with the reason and is counted as needing attention, never FAILED."""


class SourceDeletionUnavailable(SourceError):
    """The source cannot delete this recording under the configured profile (source deletion
    is off, or no documented route reaches it): the deletion stays due and is reported."""


class RecordingNotReady(SourceError):
    retryable = True


class PreparationFailed(SourceError):
    pass


class DownloadIntegrityError(SourceError):
    retryable = True


class SourceChanged(SourceError):
    """The source served different bytes for the same recording on two attempts."""

    def __init__(self, message: str, *, first_sha256: str, second_sha256: str) -> None:
        super().__init__(message)
        self.first_sha256 = first_sha256
        self.second_sha256 = second_sha256


class DeletionNotConfirmed(SourceError):
    """The source accepted a deletion but still shows the recording when read back.

    Retryable: a source may take a moment to drop a file from its lists, and deleting again
    is harmless (a gone file answers an Infobip 404, and the read-back decides).
    """

    retryable = True


# --- storage (S3, work dir) -------------------------------------------------------------------


class StorageError(RecvaultError):
    exit_code = 5


class ObjectStoreError(StorageError):
    retryable = True


class BucketNotFound(StorageError):
    pass


class BucketPolicyError(StorageError):
    pass


class ChecksumMismatch(StorageError):
    pass


class ArchiveNotVerified(StorageError):
    """The archived copy could not be re-verified right before its source copy was to be
    deleted (missing, another size or hash, unreadable): the source copy is kept."""


class WorkDirError(StorageError):
    pass


# --- catalog ----------------------------------------------------------------------------------


class CatalogError(RecvaultError):
    exit_code = 6


class CatalogUnavailable(CatalogError):
    retryable = True


class CatalogLocked(CatalogError):
    pass


class RecordingNotFound(CatalogError):
    """A recording id (or id prefix) the catalog does not hold: exit 10 like every
    "nothing matched what you named"; the auditor API answers 404."""

    exit_code = 10


class ClaimLost(CatalogLocked):
    """Another worker holds the recording now (our lease ran out): skip it, it is theirs."""


# --- media and policy -------------------------------------------------------------------------


class MediaError(RecvaultError):
    def __init__(self, message: str, *, stderr_tail: str = "") -> None:
        super().__init__(message)
        self.stderr_tail = stderr_tail


class MediaTimeout(MediaError):
    """A media tool ran out of time: an overloaded machine as often as a bad file, so the
    attempt is retried (and ends FAILED, which ``recvault retry`` re-queues), never QUARANTINED."""

    retryable = True


class MediaToolMissing(MediaError):
    """ffprobe or ffmpeg is not installed: an environment error that stops the run; the
    recording waits without using an attempt."""

    exit_code = 2


class ReconcileProblems(RecvaultError):
    """Reconciliation found recordings or objects missing."""

    exit_code = 8


class PolicyError(RecvaultError):
    exit_code = 7


class LegalHoldActive(PolicyError):
    pass


class RetentionNotExpired(PolicyError):
    pass
