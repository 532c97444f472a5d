"""SandboxState: all data, OAuth grants, request accounting, fault knobs and persistence."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import os
import secrets
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from . import extern, physics
from .athletes import COACH_ID, AthleteSpec, build_specs
from .config import SandboxConfig
from .history import AthleteData, Generator, apply_workout_fields, apply_workout_fields_workout, wellness_base

SCOPE_AREAS = ("ACTIVITY", "WELLNESS", "CALENDAR", "LIBRARY", "SETTINGS", "CHATS")
ALL_SCOPES = tuple(f"{a}:WRITE" for a in SCOPE_AREAS)


@dataclass
class Token:
    token: str
    athlete_id: str
    scopes: tuple[str, ...]
    client_id: str
    created: float

    def allows(self, area: str, write: bool) -> bool:
        if f"{area}:WRITE" in self.scopes:
            return True
        return not write and f"{area}:READ" in self.scopes


@dataclass
class AuthCode:
    code: str
    client_id: str
    athlete_id: str
    scopes: tuple[str, ...]
    created: float
    redirect_uri: str


@dataclass
class FaultRule:
    latency_ms: int = 0
    status: int | None = None
    retry_after: int | None = None
    times: int | None = None
    hang: bool = False
    path_contains: str | None = None


class Faults:
    """Thread-safe fault knobs (latency, forced status codes, hangs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rule = FaultRule()
        self.generation = 0

    def set(
        self,
        latency_ms: int = 0,
        status: int | None = None,
        retry_after: int | None = None,
        times: int | None = None,
        hang: bool = False,
        path_contains: str | None = None,
    ) -> None:
        with self._lock:
            self.rule = FaultRule(int(latency_ms or 0), status, retry_after, times, bool(hang), path_contains)
            self.generation += 1

    def clear(self) -> None:
        with self._lock:
            self.rule = FaultRule()
            self.generation += 1

    def take(self, path: str) -> tuple[int, int | None, int | None, bool]:
        """Consume the rule for one request → (latency_ms, status, retry_after, hang)."""
        with self._lock:
            r = self.rule
            if r.path_contains and r.path_contains not in path:
                return 0, None, None, False
            status, hang = r.status, r.hang
            if (status is not None or hang) and r.times is not None:
                if r.times <= 0:
                    status, hang = None, False
                else:
                    r.times -= 1
            return r.latency_ms, status, r.retry_after, hang

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            r = self.rule
            return {
                "latency_ms": r.latency_ms,
                "status": r.status,
                "retry_after": r.retry_after,
                "times": r.times,
                "hang": r.hang,
                "path_contains": r.path_contains,
            }


class _LazyAthletes(Mapping[str, AthleteData]):
    def __init__(self, state: SandboxState) -> None:
        self._state = state

    def __getitem__(self, key: str) -> AthleteData:
        return self._state._athlete(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._state.specs)

    def __len__(self) -> int:
        return len(self._state.specs)

    def __contains__(self, key: object) -> bool:
        return key in self._state.specs


class SandboxState:
    """All sandbox data plus counters and fault knobs; usable directly from Python."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.seed = self.config.seed
        self.today = self.config.resolved_today()
        self.clock: Callable[[], float] = time.time
        self.faults = Faults()
        self.request_count = 0
        self.requests: list[tuple[str, str, str, str | None, int]] = []
        self._lock = threading.RLock()
        self.specs: dict[str, AthleteSpec] = {s.id: s for s in build_specs(self.seed, self.config.extra_athletes)}
        self._by_index = {s.index: s.id for s in self.specs.values()}
        coach = self.specs[COACH_ID]
        self._gen = Generator(
            self.seed, self.today, self.config.history_days, self.config.plan_days, set(coach.coached)
        )
        self._data: dict[str, AthleteData] = {}
        self.athletes: Mapping[str, AthleteData] = _LazyAthletes(self)
        self._api_keys = {self.api_key(a): a for a in self.specs}
        self._demo_tokens = {self.demo_token(a): a for a in self.specs}
        self.tokens: dict[str, Token] = {}
        self.revoked: set[str] = set()
        self.codes: dict[str, AuthCode] = {}
        self._fitness: dict[str, dict[dt.date, extern.Fitness]] = {}
        self._streams: OrderedDict[str, dict[str, tuple[list[Any], list[Any] | None]]] = OrderedDict()
        self._curves: dict[tuple[str, str], Any] = {}
        # journal of mutations (persisted)
        self.journal: dict[str, Any] = {
            "tokens": {},
            "revoked": [],
            "events": {},
            "events_deleted": {},
            "wellness": {},
            "messages": {},
            "workouts": {},
            "next_id": 900_000_000,
        }
        self._load()

    # --- identity ---------------------------------------------------------------------------------
    def _digest(self, *parts: object) -> str:
        return hashlib.sha256(":".join(str(p) for p in (self.seed, *parts)).encode()).hexdigest()

    def demo_token(self, athlete_id: str) -> str:
        """Deterministic pre-issued bearer token with all scopes for a seeded athlete."""
        return self._digest("demo-token", self.normalize_id(athlete_id))[:32]

    def api_key(self, athlete_id: str) -> str:
        """Deterministic personal API key (contains 'SECRET' so leak tests can find it)."""
        return "SECRET" + self._digest("api-key", self.normalize_id(athlete_id))[:20]

    @staticmethod
    def normalize_id(raw: str) -> str:
        raw = raw.strip()
        return raw if raw.startswith("i") else f"i{raw}"

    def default_client(self) -> str:
        return next(iter(self.config.clients), "threshold-dev")

    def client_number(self, client_id: str | None) -> int | None:
        if client_id is None:
            return None
        return 1000 + int(self._digest("client", client_id)[:6], 16) % 9000

    # --- accounting -------------------------------------------------------------------------------
    def record(self, method: str, path: str, auth_kind: str, athlete_id: str | None, status: int) -> None:
        with self._lock:
            self.request_count += 1
            self.requests.append((method, path, auth_kind, athlete_id, status))

    def reset_counters(self) -> None:
        with self._lock:
            self.request_count = 0
            self.requests = []

    def stats(self) -> dict[str, Any]:
        with self._lock:
            by_path: dict[str, int] = {}
            by_status: dict[str, int] = {}
            for _m, p, _k, _a, st in self.requests:
                by_path[p] = by_path.get(p, 0) + 1
                by_status[str(st)] = by_status.get(str(st), 0) + 1
            return {
                "request_count": self.request_count,
                "by_status": by_status,
                "by_path": by_path,
                "requests": [list(r) for r in self.requests[-200:]],
                "faults": self.faults.as_dict(),
            }

    # --- tokens -----------------------------------------------------------------------------------
    def lookup_token(self, token: str) -> Token | None:
        tok = self.tokens.get(token)
        if tok is not None:
            return tok
        aid = self._demo_tokens.get(token)
        if aid is not None and token not in self.revoked:
            return Token(token, aid, ALL_SCOPES, self.default_client(), 0.0)
        return None

    def lookup_api_key(self, key: str) -> str | None:
        return self._api_keys.get(key)

    def issue_code(self, client_id: str, athlete_id: str, scopes: tuple[str, ...], redirect_uri: str) -> str:
        code = secrets.token_hex(16)
        self.codes[code] = AuthCode(code, client_id, athlete_id, scopes, self.clock(), redirect_uri)
        return code

    def exchange_code(self, client_id: str, code: str) -> Token | str:
        """→ Token, or an error message string."""
        ac = self.codes.pop(code, None)
        if ac is None:
            return "Invalid or already used code"
        if ac.client_id != client_id:
            return "Code was not issued to this client"
        if self.clock() - ac.created > 120:
            return "Code expired"
        tok = Token(secrets.token_hex(16), ac.athlete_id, ac.scopes, client_id, self.clock())
        with self._lock:
            self.tokens[tok.token] = tok
            self.journal["tokens"][tok.token] = {
                "athlete_id": tok.athlete_id,
                "scopes": list(tok.scopes),
                "client_id": client_id,
                "created": tok.created,
            }
        self.save()
        return tok

    def revoke(self, tok: Token) -> None:
        with self._lock:
            for t, v in list(self.tokens.items()):
                if v.athlete_id == tok.athlete_id and v.client_id == tok.client_id:
                    del self.tokens[t]
                    self.journal["tokens"].pop(t, None)
            for t, aid in self._demo_tokens.items():
                if aid == tok.athlete_id and tok.client_id == self.default_client():
                    self.revoked.add(t)
            self.journal["revoked"] = sorted(self.revoked)
        self.save()

    # --- data -------------------------------------------------------------------------------------
    def spec_by_index(self, idx: int) -> AthleteSpec | None:
        aid = self._by_index.get(idx)
        return self.specs.get(aid) if aid else None

    def _athlete(self, aid: str) -> AthleteData:
        aid = self.normalize_id(aid)
        data = self._data.get(aid)
        if data is not None:
            return data
        with self._lock:
            data = self._data.get(aid)
            if data is not None:
                return data
            spec = self.specs.get(aid)
            if spec is None:
                raise KeyError(aid)
            data = self._gen.athlete(spec, self.api_key(aid))
            self._apply_journal(data)
            self._data[aid] = data
            return data

    def generated(self) -> list[str]:
        return list(self._data)

    def find_activity(self, activity_id: str) -> tuple[AthleteData, Any] | None:
        raw = activity_id[1:] if activity_id.startswith("i") else activity_id
        if not raw.isdigit():
            return None
        n = int(raw)
        idx = (n // 10) % 1000
        spec = self.spec_by_index(idx)
        if spec is None:
            return None
        data = self.athletes[spec.id]
        rec = data.by_id.get(activity_id)
        return (data, rec) if rec is not None else None

    def next_id(self) -> int:
        with self._lock:
            self.journal["next_id"] += 1
            return int(self.journal["next_id"])

    def warm(self) -> None:
        """Generate every athlete and its fitness now (benchmarks: avoid first-request costs)."""
        for aid in self.specs:
            self.fitness(aid)

    # --- fitness ----------------------------------------------------------------------------------
    def invalidate(self, aid: str) -> None:
        self._fitness.pop(aid, None)

    def daily_loads(self, data: AthleteData) -> tuple[dict[dt.date, float], dt.date]:
        loads: dict[dt.date, float] = {}
        for a in data.activities:
            loads[a.day] = loads.get(a.day, 0.0) + a.load
        end = self.today + dt.timedelta(days=self.config.plan_days)
        paired = {a.data.get("paired_event_id") for a in data.activities}
        for ev in data.events.values():
            if ev.get("category") not in ("WORKOUT", "RACE_A", "RACE_B", "RACE_C"):
                continue
            day = dt.date.fromisoformat(ev["start_date_local"][:10])
            if day < self.today or ev["id"] in paired:
                continue
            planned = ev.get("icu_training_load")
            settings = data.pending_events.get(ev["id"])
            if settings is not None:
                m = extern.workout_metrics(ev.get("description"), ev.get("type"), settings, with_doc=False)
                planned = m.load if m else None
            if not planned:
                continue
            loads[day] = loads.get(day, 0.0) + float(planned)
            end = max(end, day)
        return loads, end

    def fitness(self, aid: str) -> dict[dt.date, extern.Fitness]:
        cached = self._fitness.get(aid)
        if cached is not None:
            return cached
        data = self.athletes[aid]
        loads, end = self.daily_loads(data)
        series = extern.fitness_series(loads, data.history_start, end)
        self._fitness[aid] = series
        return series

    def fitness_end(self, aid: str) -> dt.date:
        f = self.fitness(aid)
        return max(f) if f else self.today

    def resolve_event(self, data: AthleteData, eid: int) -> dict[str, Any] | None:
        """Fill a generated event's workout fields (workouts.py) on first use."""
        ev = data.events.get(eid)
        settings = data.pending_events.pop(eid, None)
        if ev is not None and settings is not None:
            apply_workout_fields(ev, settings)
        return ev

    def resolve_workout(self, data: AthleteData, wid: int) -> dict[str, Any] | None:
        w = data.workouts.get(wid)
        settings = data.pending_workouts.pop(wid, None)
        if w is not None and settings is not None:
            apply_workout_fields_workout(w, settings)
        return w

    # --- derived data (cached) ----------------------------------------------------------------------
    def streams(self, rec: Any) -> dict[str, tuple[list[Any], list[Any] | None]]:
        with self._lock:
            s = self._streams.get(rec.id)
            if s is not None:
                self._streams.move_to_end(rec.id)
                return s
        s = physics.streams(rec.ctx)
        with self._lock:
            self._streams[rec.id] = s
            while len(self._streams) > 24:
                self._streams.popitem(last=False)
        return s

    def curve(self, rec: Any, kind: str) -> Any:
        key = (rec.id, kind)
        c = self._curves.get(key)
        if c is None:
            fn = {"power": physics.power_curve, "hr": physics.hr_curve, "pace": physics.pace_curve}[kind]
            c = fn(rec.ctx)
            self._curves[key] = c
        return c

    # --- wellness ---------------------------------------------------------------------------------
    def wellness_row(self, data: AthleteData, day: dt.date) -> dict[str, Any] | None:
        aid = data.spec.id
        row: dict[str, Any] | None = None
        if data.history_start <= day <= self.today:
            row = data.wellness.get(day)
            if row is None:
                prev = day - dt.timedelta(days=1)
                prev_load = sum(a.load for a in data.activities if a.day == prev) if data.activities else 0.0
                row = wellness_base(data.spec, self.seed, day, prev_load)
                data.wellness[day] = row
            row = dict(row)
        overlay = self.journal["wellness"].get(aid, {}).get(day.isoformat())
        fit = self.fitness(aid).get(day)
        if row is None and overlay is None and fit is None:
            return None
        row = row or {"id": day.isoformat()}
        if overlay:
            row.update(overlay)
        if fit is not None:
            row["ctl"] = fit.ctl
            row["atl"] = fit.atl
            row["rampRate"] = fit.ramp_rate
            row["ctlLoad"] = fit.load
            row["atlLoad"] = fit.load
        return row

    def put_wellness(self, data: AthleteData, day: dt.date, fields: Mapping[str, Any]) -> None:
        readonly = {"id", "ctl", "atl", "rampRate", "ctlLoad", "atlLoad", "updated"}
        clean = {k: v for k, v in fields.items() if k not in readonly}
        with self._lock:
            ov = self.journal["wellness"].setdefault(data.spec.id, {}).setdefault(day.isoformat(), {})
            for k, v in clean.items():
                if isinstance(v, int | float) and not isinstance(v, bool) and v == -1:
                    ov[k] = None
                else:
                    ov[k] = v
            ov["updated"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.save()

    # --- events / workouts / messages journal --------------------------------------------------------
    def store_event(self, data: AthleteData, ev: dict[str, Any]) -> None:
        with self._lock:
            data.events[ev["id"]] = ev
            self.journal["events"].setdefault(data.spec.id, {})[str(ev["id"])] = ev
            deleted = self.journal["events_deleted"].get(data.spec.id, [])
            if ev["id"] in deleted:
                deleted.remove(ev["id"])
            self.invalidate(data.spec.id)
        self.save()

    def delete_event(self, data: AthleteData, eid: int, save: bool = True) -> bool:
        with self._lock:
            if data.events.pop(eid, None) is None:
                return False
            self.journal["events"].get(data.spec.id, {}).pop(str(eid), None)
            self.journal["events_deleted"].setdefault(data.spec.id, []).append(eid)
            self.invalidate(data.spec.id)
        if save:
            self.save()
        return True

    def store_workout(self, data: AthleteData, w: dict[str, Any]) -> None:
        with self._lock:
            data.workouts[w["id"]] = w
            self.journal["workouts"].setdefault(data.spec.id, {})[str(w["id"])] = w
            folder = data.folders.get(w.get("folder_id") or -1)
            if folder is not None:
                folder["num_workouts"] = sum(1 for x in data.workouts.values() if x.get("folder_id") == folder["id"])
        self.save()

    def add_message(self, data: AthleteData, activity_id: str, msg: dict[str, Any]) -> bool:
        """Append a comment; returns True if this created the activity's chat."""
        with self._lock:
            new_chat = activity_id not in data.chats
            if new_chat:
                data.chats[activity_id] = self.next_id()
                rec = data.by_id.get(activity_id)
                if rec is not None:
                    rec.data["icu_chat_id"] = data.chats[activity_id]
            data.messages.setdefault(activity_id, []).append(msg)
            j = (
                self.journal["messages"]
                .setdefault(data.spec.id, {})
                .setdefault(activity_id, {"chat_id": None, "messages": []})
            )
            j["chat_id"] = data.chats[activity_id]
            j["messages"].append(msg)
        self.save()
        return new_chat

    def _apply_journal(self, data: AthleteData) -> None:
        aid = data.spec.id
        for eid in self.journal["events_deleted"].get(aid, []):
            data.events.pop(int(eid), None)
        for ev in self.journal["events"].get(aid, {}).values():
            data.events[int(ev["id"])] = copy.deepcopy(ev)
        for w in self.journal["workouts"].get(aid, {}).values():
            data.workouts[int(w["id"])] = copy.deepcopy(w)
        for act_id, j in self.journal["messages"].get(aid, {}).items():
            data.messages.setdefault(act_id, []).extend(copy.deepcopy(j["messages"]))
            data.chats[act_id] = j["chat_id"]
            rec = data.by_id.get(act_id)
            if rec is not None:
                rec.data["icu_chat_id"] = j["chat_id"]

    # --- persistence ------------------------------------------------------------------------------
    def save(self) -> None:
        path = self.config.state_file
        if not path:
            return
        with self._lock:
            payload = json.dumps({"version": 1, "seed": self.seed, "journal": self.journal}, default=str)
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".sandbox-", suffix=".json", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(payload)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _load(self) -> None:
        path = self.config.state_file
        if not path or not os.path.exists(path):
            return
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
        if raw.get("seed") != self.seed:
            return
        j = raw.get("journal", {})
        for k in self.journal:
            if k in j:
                self.journal[k] = j[k]
        for t, v in self.journal["tokens"].items():
            self.tokens[t] = Token(t, v["athlete_id"], tuple(v["scopes"]), v["client_id"], float(v["created"]))
        self.revoked = set(self.journal["revoked"])
