"""The pod network: addresses, netfilter, the connection walk, HTTP and TLS over simulated connections.

Knows nothing of Kubernetes objects: kube installs listeners, routes and rules into it.
"""
