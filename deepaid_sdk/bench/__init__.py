"""Benchmarks: figures printed by ``deepaid bench``, never asserted by tests."""
