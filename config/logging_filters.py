"""Keep secrets out of every log line.

MCP tokens live in URL paths (`/mcp/<token>`), so any access log would print them; OAuth bearer
tokens and API keys can surface in exception text. The filter rewrites the formatted message of each
record before any handler sees it. It is installed both as a handler filter (settings.LOGGING) and as
the global log-record factory (so records reaching third-party handlers, such as uvicorn's, are
masked too).
"""

from __future__ import annotations

import logging
import re
from typing import Any

# Each pattern skips a value that is already "[masked]": records are masked at creation and their final
# text once more by MaskingFormatter, and re-matching the masked text would only cost time.
_NOT_MASKED = r"(?!\[masked\])"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # The personal MCP URL path, whatever follows /mcp/.
    (re.compile(r"(/mcp/)" + _NOT_MASKED + r"[^\s\"'/?#]+"), r"\1[masked]"),
    # One-time links: token-page confirmations, coach invites, email verification and password reset keys.
    (
        re.compile(
            r"(/token/confirm/|/coach/invite/|/accounts/confirm-email/|/accounts/password/reset/key/)"
            + _NOT_MASKED
            + r"[^\s\"'/?#]+"
        ),
        r"\1[masked]",
    ),
    # Stripe secret keys and webhook signing secrets.
    (re.compile(r"\b(sk|rk|whsec)_(live_|test_)?[A-Za-z0-9]{8,}"), r"\1_[masked]"),
    # A bare Threshold token anywhere (e.g. pasted into an error).
    (re.compile(r"thr_[A-Za-z0-9]{8,}"), "thr_[masked]"),
    # Authorization headers and similar credentials.
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1[masked]"),
    (re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]{8,}"), r"\1[masked]"),
    (
        re.compile(r"(?i)((?:access_token|client_secret|api_key|code|password|secret)=)" + _NOT_MASKED + r"[^&\s\"']+"),
        r"\1[masked]",
    ),
]


def _scoped(pattern: str) -> str:
    """A pattern usable inside an alternation: a leading global (?i) becomes a scoped (?i:...)."""
    return f"(?i:{pattern[4:]})" if pattern.startswith("(?i)") else f"(?:{pattern})"


# One pass that finds whether any pattern matches: most strings logged (addresses, methods, statuses,
# ordinary messages) hold nothing to mask and skip the per-pattern substitutions.
_ANY = re.compile("|".join(_scoped(p.pattern) for p, _ in _PATTERNS))


def mask(text: str) -> str:
    """Return `text` with every credential-shaped substring replaced."""
    if not _ANY.search(text):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    # Objects that render as text (an httpx.URL holding /mcp/<token>, an exception): replaced by their
    # masked text only when masking changes it, so %d/%r arguments keep their type otherwise.
    text = str(value)
    masked = mask(text)
    return masked if masked != text else value


def _mask_record(record: logging.LogRecord) -> None:
    if getattr(record, "_threshold_masked", False):
        return
    # Mask the template and each argument separately rather than pre-formatting: some formatters
    # (uvicorn's access log) unpack record.args themselves.
    if isinstance(record.msg, str):
        record.msg = mask(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_mask_value(a) for a in record.args)
    elif isinstance(record.args, dict):
        record.args = {k: _mask_value(v) for k, v in record.args.items()}
    if record.exc_text:
        record.exc_text = mask(record.exc_text)
    record._threshold_masked = True  # type: ignore[attr-defined]


class MaskSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        _mask_record(record)
        return True


_installed = False


def install_record_factory() -> None:
    """Mask every record at creation, whichever handler later prints it. Idempotent."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _mask_record(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


class MaskingFormatter(logging.Formatter):
    """A formatter whose final text (tracebacks included) is masked too."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))
