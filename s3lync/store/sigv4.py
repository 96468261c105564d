"""AWS Signature Version 4 for S3 requests, header-based, as the lean client sends them.

Follows https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html and matches
its worked examples (tests/unit/test_lean.py).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Credentials:
    """Static access key, secret and optional session token."""

    access_key: str
    secret_key: str
    token: str | None = None


def uri_encode(text: str, safe: str) -> str:
    """Percent-encode everything but unreserved characters and ``safe``."""
    return quote(text, safe=safe)


def canonical_query(query: dict[str, str]) -> str:
    """SigV4's canonical query: sorted, every name and value percent-encoded."""
    return "&".join(
        f"{uri_encode(k, '-_.~')}={uri_encode(v, '-_.~')}" for k, v in sorted(query.items())
    )


class Signer:
    """Signs requests for one region, caching the day's signing key."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._keys: dict[tuple[str, str], bytes] = {}
        self._keys_lock = threading.Lock()

    def _signing_key(self, secret: str, date: str) -> bytes:
        with self._keys_lock:
            key = self._keys.get((secret, date))
            if key is None:
                k = hmac.digest(f"AWS4{secret}".encode(), date.encode(), "sha256")
                for part in (self.region, "s3", "aws4_request"):
                    k = hmac.digest(k, part.encode(), "sha256")
                key = k
                self._keys = {(secret, date): key}  # one day's key is all anyone needs
            return key

    def sign(
        self,
        creds: Credentials,
        method: str,
        host: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        payload_sha256: str,
        now: float | None = None,
    ) -> dict[str, str]:
        """Headers for a SigV4-signed request (adds host, x-amz-date, content hash, auth)."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        date = stamp[:8]
        out = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
        out["host"] = host
        out["x-amz-date"] = stamp
        out["x-amz-content-sha256"] = payload_sha256
        if creds.token:
            out["x-amz-security-token"] = creds.token
        signed = sorted(out)
        canonical = "\n".join(
            [
                method,
                path,
                canonical_query(query),
                "".join(f"{k}:{out[k]}\n" for k in signed),
                ";".join(signed),
                payload_sha256,
            ]
        )
        scope = f"{date}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        # hmac.digest: OpenSSL's one-shot HMAC, without hmac.new's two Python-level hash objects.
        signature = hmac.digest(
            self._signing_key(creds.secret_key, date), to_sign.encode(), "sha256"
        ).hex()
        out["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, "
            f"SignedHeaders={';'.join(signed)}, Signature={signature}"
        )
        return out
