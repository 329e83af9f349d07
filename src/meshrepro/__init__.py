"""meshrepro: reproduce Kubernetes service-mesh problems on a simulated cluster, and explain them."""

__version__ = "0.1.0"
