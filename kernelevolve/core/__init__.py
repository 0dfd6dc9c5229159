"""Domain types and errors shared by every package; depends on the standard library only."""
