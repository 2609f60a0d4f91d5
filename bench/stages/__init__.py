"""Stages: base.py (Stage, Runtime, run_stage, records) < common.py (what runners share) < the runner modules.

Importing any bench.stages module registers every stage runner (the stage kind table, base.RUNNERS), so a fresh
job process that unpickles a Stage can run it; imports inside the package run one way (base -> common -> runners).
"""
from bench.stages import downstream, runners  # noqa: F401  (register the stage runners)
