"""HTTP clients for the servers the graph talks to (the edges of the system)."""
