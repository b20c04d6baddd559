"""The composition root: answer engine, renderers, CLI, Discord adapter, digest."""
