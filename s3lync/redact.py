"""Secrets out of URLs before they are printed or logged: userinfo and credential query values.

The patterns are compiled when first needed, not at import: every process imports this module
before its first request, and most never redact anything (~1.5 ms of start-up).
"""

from __future__ import annotations

import functools
import re

# Query parameters that carry a secret: presigned-URL signatures, session tokens, API keys.
_SECRET_PARAM = (
    r"(?i)([?&](?:x-amz-signature|x-amz-security-token|x-amz-credential|signature|"
    r"awsaccesskeyid|access_?key(?:_id)?|secret(?:_?key)?|password|passwd|token|"
    r"session_?token|api_?key|key)=)[^&#\s]*"
)
# scheme://user:password@ or scheme://token@ at the start of an authority.
_USERINFO = r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s]*@"
# Header and config values that carry a secret, as botocore's DEBUG output prints them: dict reprs
# ('X-Amz-Security-Token': b'...'), "Name: value" lines, and aws_secret_access_key = value.
_SECRET_HEADER = (
    r"(?i)(['\"]?\b(?:authorization|x-amz-security-token|aws_session_token|"
    r"aws_secret_access_key|secret_access_key|x-amz-signature|x-amz-credential|"
    r"secretaccesskey|sessiontoken)['\"]?"
    r"\s*[:=]\s*b?)(['\"])(?:(?!\2).)*\2"
)
_SECRET_BARE = (
    r"(?i)(\b(?:authorization|x-amz-security-token|aws_session_token|aws_secret_access_key|"
    r"secret_access_key)\s*[:=]\s*)(?!['\"\s]|b['\"])[^\s,;}]+(?:\s+[^\s,;}]+)*"
)
# Temporary credentials in the response bodies botocore's DEBUG output prints: STS and S3
# Express's CreateSession answer in XML, SSO and credential processes in JSON (the key above).
_SECRET_XML = r"(?i)(<(SecretAccessKey|SessionToken)>)[^<]*(</\2>)"
# Inside a SigV4 Authorization value: Credential=AKID/scope and Signature=hex.
_SIGV4_PART = r"(?i)\b((?:Credential|Signature)=|Signature:\s*)[^,\s'\"&]+"


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def redact_url(text: str) -> str:
    """``text`` with every URL's userinfo and secret query values replaced by ``***``."""
    if "@" not in text and "=" not in text:
        return text
    text = _compiled(_USERINFO).sub(r"\1***@", text)
    return _compiled(_SECRET_PARAM).sub(r"\1***", text)


def redact(text: str) -> str:
    """``text`` without secrets: URL credentials (see :func:`redact_url`), ``Authorization`` and
    session-token headers, SigV4 credentials and signatures, ``aws_secret_access_key`` values,
    and temporary credentials in XML or JSON response bodies."""
    text = redact_url(text)
    text = _compiled(_SECRET_HEADER).sub(r"\1\2***\2", text)
    text = _compiled(_SECRET_BARE).sub(r"\1***", text)
    text = _compiled(_SECRET_XML).sub(r"\1***\3", text)
    return _compiled(_SIGV4_PART).sub(r"\1***", text)
