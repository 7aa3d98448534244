"""FHIR R4 rest-hook Subscriptions with reliable delivery.

A change is matched against the active Subscriptions inside the transaction that writes it and
lands in an outbox table (`notify_event`) in that same transaction; a background worker drains
the outbox per subscription, in order, with retries. See docs/notifications.md.
"""
