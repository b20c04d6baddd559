"""abiwatch: ABI/API concerns raised on kernel mailing lists, and whether they were answered.

One installed namespace. The subpackages keep their folders at the top of the
repository (pyproject.toml maps them): abiwatch.db (schema, migrations,
read-only access), abiwatch.ingest (mail into the database),
abiwatch.nlp (interfaces, concerns, links, resolutions), abiwatch.bot (the
application: command line, answers, digest, serving, Discord).
"""
