"""``deepaid bench pyod``: placeholder replaced below."""
