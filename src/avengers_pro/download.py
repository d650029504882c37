"""Download input files by URL, once, and verify them by SHA-256.

A file that is already present is never downloaded again while its checksum matches; a file whose
checksum does not match is an error, never silently replaced. Downloads go to a temporary file beside
the target and are renamed into place only after the checksum matched, so a failed or interrupted
download leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import re
import urllib.error
import urllib.request
from pathlib import Path

from avengers_pro.errors import ConfigError, DataError
from avengers_pro.io import PathLike, atomic_path

logger = logging.getLogger(__name__)

_CHUNK_BYTES = 1 << 20
_SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")


def _normalise_digest(expected: str) -> str:
    """Lower-case and strip a configured digest; a malformed one is a configuration error."""
    digest = str(expected).strip().lower()
    if not _SHA256_PATTERN.match(digest):
        raise ConfigError(f"sha256 {expected!r} is not 64 hexadecimal digits")
    return digest


def sha256_of(path: PathLike) -> str:
    """Return the SHA-256 hex digest of a file, read in chunks.

    Parameters
    ----------
    path
        The file to hash.

    Returns
    -------
    str
        64 lower-case hexadecimal digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: PathLike, expected: str) -> None:
    """Check that a file has the expected SHA-256.

    Parameters
    ----------
    path
        The file to check.
    expected
        The configured digest (64 hexadecimal digits, any case).

    Raises
    ------
    DataError
        When the file is missing or its digest differs; the message names the file and both digests.
    ConfigError
        When ``expected`` is not a SHA-256 digest.
    """
    wanted = _normalise_digest(expected)
    if not Path(path).is_file():
        raise DataError("file not found", file=path)
    actual = sha256_of(path)
    if actual != wanted:
        raise DataError(
            f"sha256 mismatch: expected {wanted}, found {actual} "
            "(the file differs from the one the config names; replace it or fix sha256 in the config)",
            file=path,
            field="sha256",
        )


def ensure_downloaded(url: str, path: PathLike, sha256: str, *, timeout: float = 60) -> bool:
    """Make sure ``path`` holds the file with checksum ``sha256``, downloading it from ``url`` if absent.

    Parameters
    ----------
    url
        Where to fetch the file (anything ``urllib`` opens: https, http, file).
    path
        Where the file lives; parent folders are created.
    sha256
        The expected SHA-256 digest.
    timeout
        Seconds to wait for the server on connect and on each read.

    Returns
    -------
    bool
        True if the file was downloaded, False if a matching file was already there (no network use).

    Raises
    ------
    DataError
        When an existing file does not match (it is left untouched), when the download fails, or when
        the downloaded bytes do not match. Nothing is left at ``path`` after a failed download, and the
        message says how to place the file by hand.
    """
    target = Path(path)
    wanted = _normalise_digest(sha256)
    if target.exists():
        # Never overwrite silently: a local file that differs may be the user's own data.
        verify_sha256(target, wanted)
        logger.info("%s already present, sha256 matches; not downloading", target)
        return False

    by_hand = f"to work offline, place the file at {target} by hand (from {url}; its sha256 must be {wanted})"
    logger.info("downloading %s -> %s", url, target)
    try:
        # atomic_path: the bytes land in a temporary file beside the target, renamed only on success.
        with atomic_path(target) as tmp:
            digest = hashlib.sha256()
            received = 0
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
                announced = response.headers.get("Content-Length") if response.headers else None
                for chunk in iter(lambda: response.read(_CHUNK_BYTES), b""):
                    digest.update(chunk)
                    out.write(chunk)
                    received += len(chunk)
            # http.client returns a short body without complaint when the server hangs up early.
            if announced is not None and announced.isdigit() and received != int(announced):
                raise DataError(
                    f"download from {url} failed (connection closed after {received} of {announced} bytes); {by_hand}",
                    file=target,
                )
            actual = digest.hexdigest()
            if actual != wanted:
                raise DataError(
                    f"downloaded file from {url} has sha256 {actual}, expected {wanted}; nothing was kept; {by_hand}",
                    file=target,
                    field="sha256",
                )
    except DataError:
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        # URLError covers HTTP errors and refused connections, HTTPException truncated bodies,
        # OSError timeouts and disk errors, ValueError an unknown URL scheme.
        raise DataError(f"download from {url} failed ({error}); {by_hand}", file=target) from error
    logger.info("downloaded %s (sha256 %s)", target, wanted)
    return True
