"""The spaCy stage: interfaces, ABI/API cues, concerns, patch links, resolution."""
