"""Notifications: findings from the ``alerts`` topic to subscribers' webhooks.

A pure core (``model``: subscriptions, matching, digests, signatures, backoff) and thin
adapters: ``store`` (Redis), ``consume`` (aiokafka), ``deliver`` (aiohttp), ``service`` (the
``tabmon notify`` process), ``cli`` (the commands). See docs/notifications.md.
"""

from monitor.notify.model import (
    KINDS,
    REGIONS,
    SEVERITY_RANK,
    SIGNATURE_HEADER,
    Backoff,
    Subscription,
    content_digest,
    matches,
    new_subscription,
    sign,
    verify,
)

__all__ = [
    "KINDS",
    "REGIONS",
    "SEVERITY_RANK",
    "SIGNATURE_HEADER",
    "Backoff",
    "Subscription",
    "content_digest",
    "matches",
    "new_subscription",
    "sign",
    "verify",
]
