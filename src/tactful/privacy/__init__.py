"""Privacy operations on one person's data: export, erasure, and event retention (P15)."""
