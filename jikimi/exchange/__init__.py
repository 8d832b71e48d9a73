"""Hash-list exchange formats other organisations publish and read: StopNCII hash records,
NCMEC hash-sharing entries, HMA (Hasher-Matcher-Actioner) bank contents. Each module
parses a whole list before anything is stored, and writes it back with our feedback.
See docs/exchange.md."""
