"""Run the sandbox standalone: ``python -m integrations.intervals.sandbox --port 8100``."""

from __future__ import annotations

import argparse
import datetime as dt

import uvicorn

from .app import create_app
from .config import SandboxConfig
from .state import SandboxState


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Intervals.icu sandbox (offline fake API)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--today", type=dt.date.fromisoformat, default=None, help="anchor date YYYY-MM-DD")
    p.add_argument("--extra-athletes", type=int, default=0)
    p.add_argument("--latency-ms", type=int, default=0)
    p.add_argument("--state-file", default=None)
    p.add_argument("--warm", action="store_true", help="generate all athletes before serving")
    args = p.parse_args(argv)
    state = SandboxState(
        SandboxConfig(seed=args.seed, today=args.today, extra_athletes=args.extra_athletes, state_file=args.state_file)
    )
    if args.warm:
        state.warm()
    if args.latency_ms:
        state.faults.set(latency_ms=args.latency_ms)
    print(f"Intervals.icu sandbox on http://{args.host}:{args.port}  (OAuth client 'threshold-dev')")
    for s in list(state.specs.values())[:4]:
        print(f"  {s.id} {s.name:<18} demo token {state.demo_token(s.id)}")
    uvicorn.run(create_app(state), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
