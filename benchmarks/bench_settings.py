"""Benchmark-only settings: the production settings (``dxapi.settings``, read from the
environment) with the benchmark URLconf, which adds the bare comparison views."""

from dxapi.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.bench_urls"
