"""Webhooks: signed HTTP posts that tell a platform's or centre's system a match was found
or a decision made. `outbox` records events, `sender` delivers them, `signing` signs and
verifies, `destinations` decides which addresses may be reached."""
