"""Hostile pages: an attacker site and a victim site in one server, every attack class of issue 15."""
