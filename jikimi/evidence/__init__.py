"""Evidence packages: originals, hashes, provenance and custody log, signed, for police and courts."""
