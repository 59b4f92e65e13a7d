"""`kyb scheduler`: the scheduler as its own process, against an API server.

    kyb scheduler --kubeconfig PATH [--config FILE] [--leader-elect=false]
                  [--scheduler-metrics-bind-address 127.0.0.1:10259]

`--config` is a KubeSchedulerConfiguration (profiles, plugin args, client QPS, leader
election); without it the default profile runs. Flags override the file. `/metrics` and
`/healthz` are served over HTTPS on `--scheduler-metrics-bind-address` (upstream's port
10259; cli/metricsport.py). On SIGTERM or SIGINT the scheduler stops (releasing its lease).
Heavy imports happen only when the command runs, so `kyb --help` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kybernetes.api.version import user_agent
from kybernetes.cli import flags
from kybernetes.cli.flags import parse_bool
from kybernetes.cli.process import run_until_signal

if TYPE_CHECKING:
    from kybernetes.client import ClientConfig

SCHEDULER_AGENT = user_agent("kube-scheduler")
PORT = 10259


def add_parser(commands: Any) -> None:
    parser = flags.command(commands, "scheduler", help="the scheduler, against an API server")
    group = flags.group(parser, flags.CLUSTER)
    group.add_argument("--kubeconfig", default=None, metavar="FILE",
                       help="kubeconfig of the API server (default: the config file's "
                            "clientConnection.kubeconfig, in-cluster config, $KUBECONFIG)")
    group.add_argument("--config", type=Path, default=None, metavar="FILE",
                       help="a KubeSchedulerConfiguration YAML file (default: none, "
                            "upstream's defaults)")
    group.add_argument("--leader-elect", type=parse_bool, nargs="?", const=True,
                       default=None, metavar="BOOL",
                       help="run under leader election (default: true, or the config "
                            "file's leaderElection.leaderElect)")
    group.add_argument("--qps", type=float, default=None,
                       help="client QPS (default: 50, or clientConnection.qps; 0: unlimited)")
    group.add_argument("--burst", type=int, default=None,
                       help="requests the client may send at once above --qps (default: "
                            "100, or clientConnection.burst)")
    add_metrics_flag(group)
    parser.set_defaults(run=run)


def add_metrics_flag(group: Any) -> None:
    """`--scheduler-metrics-bind-address` (also a flag of `kyb server`)."""
    group.add_argument("--scheduler-metrics-bind-address", default=f"127.0.0.1:{PORT}",
                       metavar="ADDRESS:PORT",
                       help="where the scheduler serves /metrics and /healthz over HTTPS "
                            "('': nowhere)")


async def serve(kubeconfig: str | ClientConfig | None, config_path: Path | None = None, *,
                leader_elect: bool | None = None,
                qps: float | None = None, burst: int | None = None,
                metrics_address: str = "") -> None:
    """Run a scheduler until cancelled (also usable in-process, e.g. by `kyb server`:
    pass its own kubeconfig, a path or a config)."""
    from kybernetes.cli import metricsport
    from kybernetes.client import ApiClient, ClientConfig, load_config
    from kybernetes.scheduler import SchedulerConfiguration, run_scheduler
    from kybernetes.scheduler import load_config as load_scheduler
    from kybernetes.scheduler.metrics import SchedulerMetrics

    config = load_scheduler(config_path) if config_path else SchedulerConfiguration()
    if leader_elect is not None:
        config.leader_elect = leader_elect
    if qps is not None:
        config.qps = qps
    if burst is not None:
        config.burst = burst
    client_config = (kubeconfig if isinstance(kubeconfig, ClientConfig)
                     else load_config(kubeconfig or config.kubeconfig)).replace(
        user_agent=SCHEDULER_AGENT, qps=config.qps, burst=config.burst)
    # Bindings, status writes and event writers each hold a connection while in flight.
    metrics = SchedulerMetrics()
    async with ApiClient(client_config, max_keepalive_connections=256) as client, \
            ApiClient(client_config, max_keepalive_connections=64) as events, \
            metricsport.serving("scheduler", metrics_address, PORT,
                                lambda: [metrics.registry], client):
        await run_scheduler(client, config, event_client=events, metrics=metrics)


def run(args: argparse.Namespace) -> int:
    from kybernetes.client import LeadershipLost
    from kybernetes.scheduler import ConfigError

    try:
        run_until_signal(serve(args.kubeconfig, args.config, leader_elect=args.leader_elect,
                               qps=args.qps, burst=args.burst,
                               metrics_address=args.scheduler_metrics_bind_address))
    except (ConfigError, LeadershipLost) as err:
        raise SystemExit(f"kyb scheduler: {err}") from None
    return 0
