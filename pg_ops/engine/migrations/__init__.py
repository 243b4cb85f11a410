"""Applying the rollout's SQL files: parsing, lint, ledger, runner lock, concurrent index builds."""
