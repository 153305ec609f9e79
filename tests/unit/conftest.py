"""Tier `unit`: pure functions and tables -- lifecycle, pricing, query parsing, log formats -- and checks of the
docs and the layer picture against the code. No database, no app, no HTTP, no served documents: a run of this
directory alone does not even build build/openapi/. A test that needs any of those belongs in tests/integration
or tests/e2e. `make test-fast` runs all of it but the Hypothesis property tests (`slow`, tests/conftest.py).
"""
