"""The controllers kube-controller-manager runs, in start order.

Controllers started earlier drain their queues first when several react to the same instant, so
the order mirrors dependencies: accounts and the CA bundle before workloads create pods, owners
before the garbage collector looks for orphans.
"""

from __future__ import annotations

from meshrepro.kube.controllers.aggregation import ClusterRoleAggregationController
from meshrepro.kube.controllers.base import Controller, ControllerContext
from meshrepro.kube.controllers.daemonset import DaemonSetController
from meshrepro.kube.controllers.deployment import DeploymentController
from meshrepro.kube.controllers.endpoints import EndpointsController, EndpointSliceController
from meshrepro.kube.controllers.garbagecollector import GarbageCollector
from meshrepro.kube.controllers.job import JobController
from meshrepro.kube.controllers.namespace import NamespaceController
from meshrepro.kube.controllers.replicaset import ReplicaSetController
from meshrepro.kube.controllers.rootca import RootCACertPublisher
from meshrepro.kube.controllers.serviceaccount import ServiceAccountController
from meshrepro.kube.controllers.statefulset import StatefulSetController

CONTROLLERS: list[type[Controller]] = [
    NamespaceController,  # namespace: empties and finalizes deleted namespaces
    ServiceAccountController,  # serviceaccount: `default` in every namespace
    RootCACertPublisher,  # root-ca-cert-publisher: ConfigMap kube-root-ca.crt everywhere
    ClusterRoleAggregationController,  # clusterrole-aggregation: admin/edit/view rules
    DeploymentController,  # deployment: ReplicaSets per template, rollouts
    ReplicaSetController,  # replicaset: pods per ReplicaSet
    DaemonSetController,  # daemonset: one pod per eligible node
    StatefulSetController,  # statefulset: ordered, named pods
    JobController,  # job: pods to completion, backoff limit
    EndpointSliceController,  # endpointslice: discovery.k8s.io/v1 slices per selector Service
    EndpointsController,  # endpoint: legacy v1 Endpoints per selector Service
    GarbageCollector,  # garbagecollector: dependents of deleted owners
]


def start_all(ctx: ControllerContext, ca_pem: str = "") -> list[Controller]:
    """Build and start every controller; `ca_pem` is the cluster CA the root-ca publisher spreads."""
    controllers: list[Controller] = []
    for cls in CONTROLLERS:
        controller = cls(ctx, ca_pem) if cls is RootCACertPublisher else cls(ctx)  # type: ignore[call-arg]
        controller.start()
        controllers.append(controller)
    return controllers
