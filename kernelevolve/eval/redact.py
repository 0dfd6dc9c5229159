"""Removes the evaluator's own credentials from text a candidate influenced (reasons, errors, logs).

Defense in depth: workers get a scrubbed environment and the audit guard refuses reading another
process's /proc entries, but a verdict's text reaches the store and LLM prompts, so the parent's
credential-like values are cut out of it before an EvalResult is built.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable, Mapping

# The one list of credential-like variable names: their values are cut out of verdict text here, and
# sandbox.py drops them from a worker's environment even when allow-listed.
CREDENTIAL_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE|SESSION|^AWS_|^AZURE_|^GOOGLE_|^GCP_|"
                             r"^HF_|OPENAI|ANTHROPIC", re.IGNORECASE)
MIN_SECRET_CHARS = 8
MASK = "[REDACTED]"


def credential_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Returns the values (>= 8 chars) of credential-like variables, longest first, with common encodings."""
    env = os.environ if environ is None else environ
    found: set[str] = set()
    for name, value in env.items():
        if CREDENTIAL_NAME.search(name) and len(value) >= MIN_SECRET_CHARS:
            raw = value.encode(errors="replace")
            found.update({value, value[::-1], raw.hex(), base64.b64encode(raw).decode().rstrip("=")})
    return sorted(found, key=len, reverse=True)


def redact(text: str | None, secrets: Iterable[str]) -> str | None:
    """Returns text with every secret value replaced by [REDACTED] (None stays None)."""
    if not text:
        return text
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
