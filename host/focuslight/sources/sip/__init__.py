"""The SIP busy-lamp source: SUBSCRIBE to dialog events on a PBX
(blf), with its SIP message parser, digest auth, dialog-info
reader and transports."""

from .blf import (
    BACKOFF_MAX,
    BACKOFF_MIN,
    CHURN_S,
    EMPTY_NOTIFY,
    EXTENSION,
    RECHECK_PACE,
    T1,
    T2,
    USER_AGENT,
    BlfClient,
    SipSettings,
    SipSource,
    from_config,
)

__all__ = [
    "BACKOFF_MAX",
    "BACKOFF_MIN",
    "CHURN_S",
    "EMPTY_NOTIFY",
    "EXTENSION",
    "RECHECK_PACE",
    "T1",
    "T2",
    "USER_AGENT",
    "BlfClient",
    "SipSettings",
    "SipSource",
    "from_config",
]
