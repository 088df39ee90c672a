"""Test doubles that speak the real client libraries' language.

- ``ib_gateway``: the real ib_async ``IB`` with only its socket client replaced by a simulated
  Gateway that answers through ib_async's own ``Wrapper`` callbacks.
- ``polymarket_server``: a threaded HTTP server on 127.0.0.1 serving the CLOB, data and gamma API
  shapes to the real py-clob-client-v2 and httpx.
"""
