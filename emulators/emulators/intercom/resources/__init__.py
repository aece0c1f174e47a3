"""The public Intercom endpoints, one module per resource (each with its route table)."""
