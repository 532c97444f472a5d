"""Typed errors from the Intervals.icu client seam.

Each carries a short `user_message` written for the person (or the model) reading it: what happened
and what to try. Messages never contain credentials or raw upstream payloads.
"""

from __future__ import annotations


class IntervalsError(Exception):
    user_message = "Intervals.icu returned an unexpected error."

    def __init__(self, detail: str = "", *, status: int | None = None) -> None:
        super().__init__(detail or self.user_message)
        self.detail = detail
        self.status = status


class UpstreamUnavailable(IntervalsError):
    user_message = "Intervals.icu is not answering right now (server error or timeout). Try again in a minute."

    def __init__(self, detail: str = "", *, status: int | None = None, retry_in: int | None = None) -> None:
        super().__init__(detail, status=status)
        if retry_in is not None:
            # The circuit breaker is open: say when trying again makes sense.
            self.user_message = (
                "Intervals.icu has been failing repeatedly, so Threshold paused calls to it for a moment. "
                f"Retry in about {retry_in} s."
            )


class UpstreamRateLimited(IntervalsError):
    user_message = "Intervals.icu is rate limiting requests."

    def __init__(self, detail: str = "", *, retry_after: float = 0.0, status: int | None = 429) -> None:
        super().__init__(detail, status=status)
        self.retry_after = retry_after


class UpstreamAuthError(IntervalsError):
    user_message = (
        "Intervals.icu no longer accepts this connection (it was revoked or disconnected). "
        "Reconnect Intervals.icu from the Threshold dashboard."
    )


class UpstreamForbidden(IntervalsError):
    user_message = (
        "Intervals.icu refused access. The connection may lack the permission (scope) this needs; "
        "reconnect from the Threshold dashboard and tick it."
    )


class UpstreamNotFound(IntervalsError):
    user_message = "Intervals.icu has no such item."


class UpstreamInvalid(IntervalsError):
    user_message = "Intervals.icu rejected the request as invalid."


def retry_after_text(exc: UpstreamRateLimited) -> str:
    seconds = max(1, round(exc.retry_after))
    return f"Intervals.icu is rate limiting requests; retry after about {seconds} s."
