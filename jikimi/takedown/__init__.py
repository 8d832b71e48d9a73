"""Takedown: notices to hosts, drafted per language, sent, tracked and re-sent until removed."""
