"""Fixtures for the tests that run the Dagster definitions in process."""

from criptopipe_tests.fixtures import resources, sandbox

__all__ = ["resources", "sandbox"]
