"""Federation at the node: its pinned peers (`peers`) and, beside them, the exchange of
signed messages with them (docs/federation.md).

Modules: `peers` (the pinned peers), `inbox` (the gate every federation message passes),
`outbox` (messages queued in the caller's transaction), `delivery` (sending them, with
retries), `transport` (the protocol the courier implements), `transmit` / `receive`
(documents and their receipts), `transmissions` (their states), `exchange` (`Exchange`,
what `Node.exchange` is), consents and witnessing.
"""
