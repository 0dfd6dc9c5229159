"""Search: the graph of candidates, selection policies and termination (pure, seeded, Ray-free)."""
