"""Committed Terraform provider schemas (data): one JSON file per provider version, and sources.json listing them."""
