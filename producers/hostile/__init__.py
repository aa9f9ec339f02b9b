"""A hostile feed: every kind of malformed, oversized or contradictory input a producer could
send (``values``, ``bytes``, ``mutations``, ``registry``), and the feed that sends them
(``feed``)."""
