"""A third API added through the registry alone (tests/integration/test_registry.py): a tiny Swagger
document, one model, one handler module. Nothing under src/ names it."""
