"""kybernetes: Kubernetes, rebuilt in Python."""
