"""Mail archives in, rows out: sources, parsing, threading, series, loading."""
