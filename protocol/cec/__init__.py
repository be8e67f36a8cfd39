"""The CEC side: device registry, database, checks, TCP listener, consolidation, NIST
export and the JSON API the results website renders."""
