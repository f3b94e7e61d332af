"""abs-registry: declarations, access permits and benefit-sharing under the Nagoya Protocol."""

from abs_registry.app import create_app

__all__ = ["create_app"]
