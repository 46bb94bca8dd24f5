"""The alert engine: reads the database, runs the detectors, writes and delivers alerts.

Everything it judges comes from the database (``meter_state``, hourly rollups,
``meter_events``), so it works whichever ingester wrote the data, and several engines
may run at once: the partial unique index on ``alerts.condition_key`` lets only one of
them open an alert for a condition, a conditional update lets only one resolve it, and
a compare-and-set cursor lets only one handle each register event.

Detector state lives in memory (``ConditionTracker``); alerts, their history and the
webhook outbox live in the database. After a restart the engine takes over the open
alerts it finds, so they still clear when their condition does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.alerts import overrides
from app.alerts import schemas as alert_schemas
from app.alerts import store as alert_store
from app.alerts.metrics import engine_registry
from app.alerts.models import AlertRow
from app.alerts.schemas import Event, since_of
from app.alerts.store import Target, TransitionRefused
from app.config import Settings
from app.db.engine import transaction
from app.db.models import MeterEventRow, MeterStateRow
from app.domain.alerts import AlertKind, AlertScope, condition_key
from app.domain.detection import register_event_candidate
from app.domain.plant import Area, Meter, Plant, Resource, Site

from .baselines import BaselineCache
from .conditions import Clear, ConditionTracker, Open, Reading, Step
from .events import EventFeed
from .publish import AlertPublisher, site_payload
from .rules import SPIKE_RESOURCES, RuleBook, area_chains, area_target, parse_overrides
from .webhooks import DeliveryOutcome, WebhookConfig, WebhookSender, webhook_config

log = logging.getLogger(__name__)

TRANSITIONS_KEPT: Final = 1000
_MANAGED: Final = frozenset({AlertKind.SPIKE, AlertKind.OFFLINE, AlertKind.PV_SHORTFALL})


@dataclass(frozen=True, slots=True)
class AlertTransition:
    """One change this engine made to an alert (what tests and metrics look at)."""

    event: str  # opened | resolved | updated (acknowledgements come from people)
    alert_id: int
    condition_key: str
    kind: str
    severity: str
    site_id: str
    at: datetime
    message: str

    @classmethod
    def of(cls, row: AlertRow, event: str, at: datetime) -> AlertTransition:
        return cls(
            event, row.id, row.condition_key, row.kind, row.severity, row.site_id, at, row.message
        )


@dataclass(frozen=True, slots=True)
class _Owner:
    site: Site
    meter: Meter | None = None
    area: Area | None = None


class AlertEngine:
    """Evaluates every ``interval_s``; see the module docstring.

    Args:
        factory: session factory of the GreenPulse database.
        plant: the plant (sites, areas, meters and their ``alerts:`` rules).
        settings: MQTT connection and topic prefix; webhook settings when ``webhooks``
            is not given (``webhook_urls``, ``webhook_secret``).
        clock: the time source (the demo's simulated clock, or a test's).
        interval_s: how often to evaluate, publish and deliver.
        webhooks: where to POST transitions; default from ``settings``.
        register_event_ttl_s: how long an informational register-event alert stays open.
        event_gap_wait_s: how long a hole in ``meter_events`` ids is given to fill (a
            transaction that took an id but has not committed yet) before it is skipped.
        publish_mqtt: set False to run without a broker (tests).
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        plant: Plant,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        interval_s: float = 2.0,
        webhooks: WebhookConfig | None = None,
        register_event_ttl_s: float = 900.0,
        event_gap_wait_s: float = 10.0,
        baseline_weeks: int = 8,
        baseline_min_weeks: int = 3,
        publish_mqtt: bool = True,
    ) -> None:
        self._factory = factory
        self.plant = plant
        self.settings = settings
        self._clock = clock
        self.interval_s = interval_s
        self.webhooks = webhooks if webhooks is not None else webhook_config(settings)
        self._event_ttl = timedelta(seconds=register_event_ttl_s)
        self._events = EventFeed(factory, gap_wait=timedelta(seconds=event_gap_wait_s))
        self._publish_mqtt = publish_mqtt
        self.metrics: Counter[str] = Counter()
        self.registry = engine_registry(self.metrics)
        """``self.metrics`` for Prometheus (``greenpulse alerts --metrics-port``)."""
        self.transitions: deque[AlertTransition] = deque(maxlen=TRANSITIONS_KEPT)
        self.tracker = ConditionTracker()
        self.baselines = BaselineCache(weeks=baseline_weeks, min_weeks=baseline_min_weeks)
        self.publisher = AlertPublisher(settings)
        self.sender = WebhookSender(factory, self.webhooks, on_outcome=self._count_delivery)
        self._rulebook = RuleBook(plant)
        self._overrides_seen: dict[tuple[str, str], dict[str, object]] = {}
        self._owners: dict[str, _Owner] = {}
        self._area_feeders: dict[str, tuple[Site, Area, list[Meter]]] = {}
        self._area_names: dict[tuple[str, str], str] = {}
        self._meters: dict[str, tuple[Site, Meter]] = {}
        self._event_keys: set[str] = set()
        self._index_plant()

    def _index_plant(self) -> None:
        for site in self.plant.sites:
            chains = area_chains(site)
            for area_id, chain in chains.items():
                self._area_names[(site.id, area_id)] = chain[-1].name
            for meter in site.meters:
                self._meters[meter.id] = (site, meter)
                self._event_keys.add(
                    condition_key(AlertKind.REGISTER_EVENT, AlertScope.METER, meter.id)
                )
                for kind in (AlertKind.OFFLINE, AlertKind.SPIKE, AlertKind.PV_SHORTFALL):
                    key = condition_key(kind, AlertScope.METER, meter.id)
                    self._owners[key] = _Owner(site, meter=meter)
            for area_id, chain in chains.items():
                inside = {a for a, c in chains.items() if area_id in (x.id for x in c)}
                feeders = [
                    m
                    for m in site.meters
                    if m.resource is Resource.ELECTRICITY and m.area in inside
                ]
                if len(feeders) < 2:
                    continue  # one feeder: its own spike alert says it all
                key = condition_key(AlertKind.SPIKE, AlertScope.AREA, area_target(site.id, area_id))
                area = chain[-1]
                self._area_feeders[key] = (site, area, feeders)
                self._owners[key] = _Owner(site, area=area)

    # -- one evaluation ----------------------------------------------------------------------

    def evaluate_once(self, now: datetime | None = None) -> list[AlertTransition]:
        """Judge every condition once at ``now`` and write the transitions (synchronous)."""
        now = now if now is not None else self._clock()
        self.metrics["evaluations"] += 1
        with self._factory() as session:
            readings = {
                row.meter_id: Reading(
                    row.last_time, row.last_rate_per_h, row.received_at, row.offline_since
                )
                for row in session.scalars(select(MeterStateRow))
            }
            active = alert_store.unresolved(session)
            self._load_rules(overrides.load_overrides(session))
            for site in self.plant.sites:
                if self.baselines.due(site.id, now):
                    self._rebuild_baselines(session, site, now)
        made: list[AlertTransition] = []
        made += self._reconcile(active, now)
        for site in self.plant.sites:
            for meter in site.meters:
                for step in self._meter_steps(site, meter, readings.get(meter.id), now):
                    made += self._apply(step, now)
        for key, (site, area, feeders) in self._area_feeders.items():
            rules = self._rulebook.for_area(site.id, area.id)
            if not rules.enabled:
                continue
            area_step = self.tracker.area_spike(
                site, area, feeders, rules, readings, now, self.baselines.get(key)
            )
            if area_step is not None:
                made += self._apply(area_step, now)
        # expire before reading new events: ``active`` predates this round's writes, and
        # an alert that a new event just refreshed must not be closed on old figures
        made += self._expire_register_events(active, now)
        made += self._register_events(now)
        self._refresh_payloads(now)
        self.transitions.extend(made)
        return made

    def _load_rules(self, overrides: dict[tuple[str, str], dict[str, object]]) -> None:
        if overrides != self._overrides_seen:
            self._rulebook = RuleBook(self.plant, parse_overrides(overrides))
            self._overrides_seen = overrides

    def _rebuild_baselines(self, session: Session, site: Site, now: datetime) -> None:
        meters = {
            condition_key(AlertKind.SPIKE, AlertScope.METER, m.id): m.id
            for m in site.meters
            if m.resource in SPIKE_RESOURCES
        }
        areas = {
            key: [m.id for m in feeders]
            for key, (owner, _, feeders) in self._area_feeders.items()
            if owner.id == site.id
        }
        self.baselines.rebuild(session, site, meters, areas, now)

    def _meter_steps(
        self, site: Site, meter: Meter, reading: Reading | None, now: datetime
    ) -> Iterable[Step]:
        rules = self._rulebook.for_meter(meter)
        if not rules.enabled:
            return
        area_name = self._area_names.get((site.id, meter.area))
        yield self.tracker.offline(site, meter, rules, reading, now, area_name)
        if meter.resource in SPIKE_RESOURCES:
            key = condition_key(AlertKind.SPIKE, AlertScope.METER, meter.id)
            baseline = self.baselines.get(key)
            step = self.tracker.meter_spike(site, meter, rules, reading, now, baseline, area_name)
            if step is not None:
                yield step
        if meter.resource is Resource.PV:
            step = self.tracker.pv_shortfall(site, meter, rules, reading, now, area_name)
            if step is not None:
                yield step

    def _enabled(self, owner: _Owner) -> bool:
        if owner.meter is not None:
            return self._rulebook.for_meter(owner.meter).enabled
        if owner.area is not None:
            return self._rulebook.for_area(owner.site.id, owner.area.id).enabled
        return True

    def _reconcile(self, active: list[AlertRow], now: datetime) -> list[AlertTransition]:
        """Adopt open alerts this engine's detectors do not know as open (opened by
        another engine, or before a restart) and close those whose rules are disabled."""
        made: list[AlertTransition] = []
        for row in active:
            owner = self._owners.get(row.condition_key)
            if owner is None or row.kind not in _MANAGED:
                continue
            if self._enabled(owner):
                self.tracker.seed_open(row.condition_key, row.kind, since_of(row))
                continue
            self.tracker.forget(row.condition_key)
            clear = Clear(row.condition_key, "alerting disabled for this condition by a rule")
            made += self._apply(Step(lambda: None, clear), now)
        return made

    def _apply(self, step: Step, now: datetime) -> list[AlertTransition]:
        """Write the step's action; keep the detector's new state only if that worked."""
        action = step.action
        if action is None:
            step.commit()
            return []
        urls = self.webhooks.urls
        event = Event.OPENED if isinstance(action, Open) else Event.RESOLVED
        try:
            with transaction(self._factory) as session:
                if isinstance(action, Open):
                    row = alert_store.insert_alert(
                        session,
                        action.candidate,
                        action.target,
                        now=now,
                        webhook_urls=urls,
                        details=action.details,
                    )
                else:
                    row = alert_store.resolve_condition(
                        session,
                        action.condition_key,
                        now=now,
                        note=action.note,
                        webhook_urls=urls,
                        details=action.details,
                    )
                made = [AlertTransition.of(row, event, now)] if row is not None else []
        except SQLAlchemyError as exc:
            self.metrics["write_errors"] += 1
            log.warning("alert write failed (%s); retried at the next evaluation", exc)
            return []
        except TransitionRefused as exc:
            # the domain refused it, e.g. a clock behind the alert's opening time
            self.metrics["refused_transitions"] += 1
            log.warning("alert transition refused (%s); retried at the next evaluation", exc)
            return []
        step.commit()
        if not made:
            # another engine (or a person) got there first: nothing to announce
            self.metrics["already_open" if event == Event.OPENED else "already_resolved"] += 1
        for transition in made:
            self.metrics[transition.event] += 1
            log.info("alert %s: %s", transition.event, transition.message)
        return made

    # -- register events ---------------------------------------------------------------------

    def _register_events(self, now: datetime) -> list[AlertTransition]:
        try:
            made = self._events.take(now, lambda s, e: self._register_event(s, e, now))
        except SQLAlchemyError as exc:
            self.metrics["write_errors"] += 1
            log.warning("register events not processed (%s); retried next time", exc)
            return []
        for transition in made:
            self.metrics[transition.event] += 1
            log.info("alert %s: %s", transition.event, transition.message)
        return made

    def _register_event(
        self, session: Session, event: MeterEventRow, now: datetime
    ) -> list[AlertTransition]:
        found = self._meters.get(event.meter_id)
        if found is None:
            return []
        site, meter = found
        if not self._rulebook.for_meter(meter).enabled:
            return []
        candidate = register_event_candidate(
            event.kind,
            meter_id=meter.id,
            at=event.time,
            tz=site.zone,
            meter_name=meter.name,
            area_name=self._area_names.get((site.id, meter.area)),
        )
        facts = {
            "id": event.id,
            "kind": event.kind,
            "time": alert_schemas.iso(event.time),
            "previous_value": event.previous_value,
            "value": event.value,
            "detail": event.detail,
        }
        result = alert_store.add_register_event(
            session,
            candidate,
            Target(site.id, meter.area, meter.id),
            facts,
            now=now,
            webhook_urls=self.webhooks.urls,
        )
        return [] if result is None else [AlertTransition.of(result[0], result[1], now)]

    def _expire_register_events(
        self, active: list[AlertRow], now: datetime
    ) -> list[AlertTransition]:
        """Informational alerts close by themselves: in the history, off the banner."""
        made: list[AlertTransition] = []
        minutes = round(self._event_ttl.total_seconds() / 60)
        for row in active:
            if row.kind != AlertKind.REGISTER_EVENT or row.condition_key not in self._event_keys:
                continue
            last = (row.details or {}).get("last_event_at")
            since = datetime.fromisoformat(last) if isinstance(last, str) else row.opened_at
            if now - since < self._event_ttl:
                continue
            note = f"informational; closed automatically {minutes} min after the last event"
            made += self._apply(Step(lambda: None, Clear(row.condition_key, note)), now)
        return made

    # -- delivery ------------------------------------------------------------------------------

    def _refresh_payloads(self, now: datetime) -> None:
        try:
            with self._factory() as session:
                rows = alert_store.unresolved(session)
        except SQLAlchemyError as exc:
            log.warning("open alerts unreadable for MQTT (%s)", exc)
            return
        by_site: dict[str, list[AlertRow]] = {s.id: [] for s in self.plant.sites}
        for row in rows:
            if row.site_id in by_site:
                by_site[row.site_id].append(row)
        self.publisher.update({s: site_payload(s, r) for s, r in by_site.items()}, now)

    def _count_delivery(self, outcome: DeliveryOutcome) -> None:
        self.metrics["webhooks_delivered" if outcome.error is None else "webhooks_failed"] += 1

    async def deliver_due(self, now: datetime | None = None) -> list[DeliveryOutcome]:
        """POST the webhook deliveries due at ``now`` (one round)."""
        return await self.sender.deliver_due(now if now is not None else self._clock())

    # -- the loop ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Evaluate, publish and deliver until ``stop`` is set."""
        # the helpers stop with the loop, also when it is cancelled, without touching
        # the caller's event (other parts of the process may share it)
        done_event = asyncio.Event()
        tasks: list[asyncio.Task[None]] = [
            asyncio.create_task(self._deliver_loop(done_event), name="alert-webhooks")
        ]
        if self._publish_mqtt:
            tasks.append(
                asyncio.create_task(
                    self.publisher.run(done_event, idle_s=max(self.interval_s, 1.0)),
                    name="alert-mqtt",
                )
            )
        log.info(
            "alert engine: %s conditions, every %.1f s, %s webhook URL(s)",
            len(self._owners),
            self.interval_s,
            len(self.webhooks.urls),
        )
        try:
            while not stop.is_set():
                try:
                    await asyncio.to_thread(self.evaluate_once, self._clock())
                except SQLAlchemyError as exc:  # the database is away: say so, keep trying
                    self.metrics["evaluation_errors"] += 1
                    log.warning(
                        "alert evaluation failed (%s); next try in %.1f s", exc, self.interval_s
                    )
                except Exception:  # a bug: the loop must still outlive it
                    self.metrics["evaluation_errors"] += 1
                    log.exception("alert evaluation failed; next try in %.1f s", self.interval_s)
                self.publisher.wake()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.interval_s)
        finally:
            done_event.set()
            _, pending = await asyncio.wait(tasks, timeout=5)
            for task in pending:
                task.cancel()
            await self.sender.aclose()

    async def _deliver_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                outcomes = await self.deliver_due()
            except SQLAlchemyError as exc:
                log.warning("webhook outbox unreadable (%s)", exc)
                outcomes = []
            except Exception:
                log.exception("webhook delivery round failed")
                outcomes = []
            if len(outcomes) >= self.webhooks.batch_size:
                continue  # a backlog: go on at once
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)
