"""Sweeps: many runs of one experiment that differ in a few config values, compared on one page."""
