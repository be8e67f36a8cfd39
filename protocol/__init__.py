"""Results to the CEC: canonical messages, signatures, HPKE envelopes, frames, receipts,
the device outbox, and the CEC server with consolidation (``protocol.cec``).

Modules: ``encoding``, ``messages``, ``envelope``, ``frames``, ``receipts``, ``outbox``,
``device``, ``errors``; ``cec.registry``, ``cec.store``, ``cec.ingest``, ``cec.server``,
``cec.consolidate``, ``cec.nist``, ``cec.api``, ``cec.web``, ``cec.provision``. The modem
driver lives beside them (``protocol/modem*.py``) and plugs into ``outbox.Sender`` as a
``frames.Transport``.
"""
