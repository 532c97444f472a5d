"""The Stripe seam: Checkout, the Customer Portal, subscription reads, webhook verification and storage.

Nothing outside `integrations/` imports the `stripe` library. Callers use `gateway.get_gateway()`
(the real SDK client, or the in-process fake used by the embedded default and the tests) and
`webhooks.verify` / `webhooks.record` for incoming events.
"""
