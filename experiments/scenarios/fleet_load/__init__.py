"""The fleet_load scenario: many tenants and users at once through a fleet, step by step in load."""
