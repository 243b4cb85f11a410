"""Index advice: candidates from the app's statements, weighed with HypoPG, built, measured, kept or dropped."""
