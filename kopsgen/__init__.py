"""kopsgen: one cluster.yaml in, a reviewable Terraform workspace for Kubernetes on AWS out."""

__version__ = "0.1.0"
