"""The spec: YAML loaded with positions, its pydantic schema, its graph, and validation.

Read in order: :mod:`~modelspec.spec.guard` (hostile files refused before any
parsing) → :mod:`~modelspec.spec.loader` (safe YAML, every value's line and
column, ``--set`` overrides) → :mod:`~modelspec.spec.schema` (the structure, as
pydantic models) → :mod:`~modelspec.spec.graph` (references, default wiring,
topological order) → :mod:`~modelspec.spec.expand` (``vars:`` and ``${...}``)
→ :mod:`~modelspec.spec.validate` (every problem at its line, one module per
section) → :mod:`~modelspec.spec.jsonschema` (the JSON Schema editors use).
Nothing here imports Keras.
"""
