"""Side-by-side benchmarks of provenance against its baselines (issue 4).

Run ``python -m benchmarks`` (full sizes, several minutes) or ``python -m benchmarks
--smoke`` (tiny sizes, every row, under a minute). See ``benchmarks/README.md``.
"""
