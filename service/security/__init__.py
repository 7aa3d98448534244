"""Who is calling and what they may do: bearer tokens (tokens), their signing keys (jwks),
SMART scopes (scopes), per-client rate limits (rate_limit) and the local development key
(dev_keys)."""
