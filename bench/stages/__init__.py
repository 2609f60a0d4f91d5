"""Stages: base.py (Stage, StageSpec and the key rule, Runtime, run_stage, records) < specs.py (one typed spec per
stage kind) < common.py (what runners share) < the runner modules.

Importing any bench.stages module registers every stage kind (base.SPECS) and runner (base.RUNNERS), so a fresh
job process that unpickles a Stage can run it; imports inside the package run one way (base -> specs -> common ->
runners).
"""
from bench.stages import downstream, runners  # noqa: F401  (register the stage specs and runners)
