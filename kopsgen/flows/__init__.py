"""The lifecycle flows: plan, up, update, status, destroy, credentials push, kubeconfig.

Each is a plain function over an open :class:`~kopsgen.flows.session.Session` and an
``out`` callback for what it prints on stdout (progress goes through ``session.say``); it
returns its result and raises a :class:`~kopsgen.errors.KopsgenError`. The CLI only parses
options, opens the session, calls one flow and prints; the tests call the flows directly
(tests/unit/test_flows.py). Layers only call down: cli -> flows -> core -> renderers and
spec -> leaves.
"""
