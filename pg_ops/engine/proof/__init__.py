"""Proving a rollout: the benchmark suite, the RLS matrix, the verdicts."""
