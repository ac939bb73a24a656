"""Shared pytest fixtures: real local services (tests/harness) and the offline plans of the stacks."""
