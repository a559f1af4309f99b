"""The respect simulation: synthetic people with hidden interests, policies on and off."""
