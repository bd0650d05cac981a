"""`tolaria operator`: run the Kubernetes operator that reconciles TrainingRuns.

Scope: `--namespace NS` (repeatable; kopf also accepts globs such as `team-*`) watches only
those namespaces and needs only namespaced RBAC; `--all-namespaces` watches the whole cluster.
One of the two is required.

Endpoints: Prometheus metrics on `--metrics-port` (9090) at /metrics; a liveness endpoint on
`--health-port` (8080) at /healthz, served by kopf, which answers once the operator is up and
its watches are running. Either port 0 disables it.

Two replicas (or a second installation, or a developer's operator against the same cluster)
must not reconcile the same runs at once. With `--peering NAME` the operators coordinate
through kopf's peering objects (the KopfPeering / ClusterKopfPeering CRDs from kopf's
documentation must be installed, with an object NAME in the scope): every operator announces
itself there with a priority, and only the one with the highest priority works; the others
pause (a hot standby) and take over within the peering lifetime (60 s) after the active one
stops renewing its record. Priorities must differ between replicas, since equal priorities
pause everyone: `--priority` sets one, and without it each operator draws a random one at
start. The identity in the peering object is the pod's name (POD_NAME, from the downward
API) when set. `--standalone` (the default without `--peering`) skips peering entirely; the
chart then runs one replica with the Recreate strategy, so an upgrade never overlaps two
operators. Even if two operators did overlap, the damage is bounded: children are written by
server-side apply under one field manager (no duplicates, no ownership conflicts); only
scaling decisions could be taken twice.

Deleting a TrainingRun waits for the operator to stop that run's control loop (finalizer
`tolaria.dev/operator`); uninstall the operator only after the runs it manages are gone, or
remove the finalizer by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random

LOG_LEVELS = ("debug", "info", "warning", "error")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument(
        "-n",
        "--namespace",
        dest="namespaces",
        action="append",
        metavar="NS",
        help="watch this namespace (repeatable)",
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    peering = parser.add_mutually_exclusive_group()
    peering.add_argument(
        "--peering", metavar="NAME", help="coordinate with other operators through this kopf peering"
    )
    peering.add_argument(
        "--standalone", action="store_true", help="no peering (the default without --peering)"
    )
    parser.add_argument(
        "--priority", type=int, help="peering priority; the highest works, others stand by (default: random)"
    )
    parser.add_argument("--metrics-port", type=int, default=9090, help="Prometheus /metrics port, 0 disables")
    parser.add_argument("--health-port", type=int, default=8080, help="liveness /healthz port, 0 disables")
    parser.add_argument(
        "--operator-pods",
        metavar="SELECTOR",
        help="labels of the operator's own pods (key=value,...), in the namespace $POD_NAMESPACE: each"
        " run's Redis NetworkPolicy admits them. Without it only the run's pods reach its Redis",
    )
    parser.add_argument(
        "--log-level", type=str.lower, default="info", choices=LOG_LEVELS, help="log verbosity (default info)"
    )


def run(args: argparse.Namespace) -> int:
    for name, port in (("--metrics-port", args.metrics_port), ("--health-port", args.health_port)):
        if not 0 <= port <= 65535:
            raise SystemExit(f"tolaria operator: {name} must be a TCP port (0-65535), got {port}")
    if args.priority is not None and args.peering is None:
        raise SystemExit("tolaria operator: --priority needs --peering")
    operator_pods = None
    if args.operator_pods is not None:
        from tolaria.operator.network_policies import OperatorPods

        namespace = os.environ.get("POD_NAMESPACE")
        if not namespace:
            raise SystemExit(
                "tolaria operator: --operator-pods needs $POD_NAMESPACE, the operator's namespace"
            )
        try:
            operator_pods = OperatorPods.parse(namespace, args.operator_pods)
        except ValueError as e:
            raise SystemExit(f"tolaria operator: --operator-pods: {e}") from None
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.log_level != "debug":
        # kopf logs every handled watch event at INFO; the operator's own decisions stay visible.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    # Imported here: `tolaria` subcommands do not pay for kopf and the Kubernetes client.
    import kopf
    from kubernetes.config import ConfigException

    from tolaria.operator import handlers
    from tolaria.operator.kube import Kube, load_api_client
    from tolaria.operator.metrics import OperatorMetrics

    try:
        api_client = load_api_client()
    except ConfigException as e:
        raise SystemExit(
            f"tolaria operator: no Kubernetes credentials (in-cluster or $KUBECONFIG): {e}"
        ) from None
    metrics = OperatorMetrics()
    if args.metrics_port:
        metrics.serve(args.metrics_port)
    context = handlers.OperatorContext(kube=Kube(api_client), metrics=metrics, operator_pods=operator_pods)
    peered = args.peering is not None
    priority = args.priority if args.priority is not None else random.randint(1, 2**31 - 1)
    pod = os.environ.get("POD_NAME")
    asyncio.run(
        kopf.operator(
            clusterwide=bool(args.all_namespaces),
            namespaces=args.namespaces or (),
            standalone=not peered,
            peering_name=args.peering,
            priority=priority if peered else None,
            identity=pod,
            liveness_endpoint=f"http://0.0.0.0:{args.health_port}/healthz" if args.health_port else None,
            memo=context,
        )
    )
    return 0
