"""A plan's home supply: pharmacy fills (``records``), PQA's carry-forward cover
(``coverage``), and what is on hand, when it runs out and when a refill is due."""
