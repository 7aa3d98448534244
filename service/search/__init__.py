"""FHIR search: which parameters exist, what a resource indexes under them, what a query asks.

Pure Python; the SQL that stores and searches the index is in service.store.search.
"""
