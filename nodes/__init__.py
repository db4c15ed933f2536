"""Graph nodes: small functions of (state, runtime) that return the state fields they change."""
