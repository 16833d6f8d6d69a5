"""The lake as a whole: its tiers, and keeping them consistent."""
