"""Scripts that run official code (unchanged) and save its inputs/outputs as test fixtures (tests/data/official/)."""
