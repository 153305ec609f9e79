"""Hub subscriptions and the listener inbox: the rows behind every API's `/hub` and `/listener/*`."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import InboxEvent, Subscription


class SubscriptionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, subscription_id: str, api: str, callback: str, query: str | None) -> Subscription:
        subscription = Subscription(
            id=subscription_id, api=api, callback=callback, query=query, created_at=datetime.now(UTC)
        )
        self.session.add(subscription)
        self.session.flush()
        return subscription

    def get(self, api: str, subscription_id: str) -> Subscription | None:
        statement = select(Subscription).where(Subscription.api == api, Subscription.id == subscription_id)
        return self.session.scalars(statement).one_or_none()

    def delete(self, subscription: Subscription) -> None:
        self.session.delete(subscription)

    def receive(self, api: str, event_id: str, event_type: str | None, payload: dict) -> bool:
        """Store a received event; False when this API's inbox already holds its eventId."""
        row = {
            "api": api,
            "event_id": event_id,
            "event_type": event_type,
            "payload": payload,
            "received_at": datetime.now(UTC),
        }
        try:
            with self.session.begin_nested():
                self.session.execute(insert(InboxEvent), [row])
        except IntegrityError:
            return False
        return True
