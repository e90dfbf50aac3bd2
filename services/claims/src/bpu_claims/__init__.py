"""The claims service."""
