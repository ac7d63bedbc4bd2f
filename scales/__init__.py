"""Plain-Python vocabulary every layer shares: no Django, no numpy, no project imports.

It sits below the stats core (tests/test_layering.py), so the stats core, the catalog, the
annotation workflow and the leaderboards can all import it.
"""
