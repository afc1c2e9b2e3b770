"""Federation at the node: its pinned peers (`peers`) and, beside them, the exchange of
signed messages with them (inbox, outbox, transmissions, consents, witnessing)."""
