"""Secrets out of URLs before they are printed or logged: userinfo and credential query values."""

from __future__ import annotations

import re

# Query parameters that carry a secret: presigned-URL signatures, session tokens, API keys.
_SECRET_PARAM = re.compile(
    r"(?i)([?&](?:x-amz-signature|x-amz-security-token|x-amz-credential|signature|"
    r"awsaccesskeyid|access_?key(?:_id)?|secret(?:_?key)?|password|passwd|token|"
    r"session_?token|api_?key|key)=)[^&#\s]*"
)
# scheme://user:password@ or scheme://token@ at the start of an authority.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s]*@")


def redact_url(text: str) -> str:
    """``text`` with every URL's userinfo and secret query values replaced by ``***``."""
    if "@" not in text and "=" not in text:
        return text
    return _SECRET_PARAM.sub(r"\1***", _USERINFO.sub(r"\1***@", text))
