"""Controllers of kube-controller-manager: each reconciles one kind through the API server."""
