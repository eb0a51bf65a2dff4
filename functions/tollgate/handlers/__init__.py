"""The four Lambda entry points: ``tollgate.handlers.<name>.handler``. Each parses its event, calls
the domain modules and returns; no domain logic lives here."""
