"""Serving OneID to the CRM: the publish stage into PostgreSQL (``publish.py``, ``schema.sql``) and
the API and 360° page over those tables."""
