"""The Dyad console: a small static web app (no build step) served beside the FHIR API.

The pages hold no data: every record they show comes from the FHIR API, fetched by the browser
with the user's bearer token, so the console passes through the same access rules as any client.
"""
