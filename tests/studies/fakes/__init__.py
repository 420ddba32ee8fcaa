"""Fake measurements per study, one module per area; each module defines FAKES = {study_id: [(numbers, verdict)]}."""
