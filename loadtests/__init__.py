"""Load, attack and benchmark tooling for the FlexSCADA Q5 integration (development only).

Run through the wrappers in scripts/: `scripts/fuzz`, `scripts/soak`, `scripts/bench_http`.
Results and how to read them: docs/load-and-attack.md.
"""
