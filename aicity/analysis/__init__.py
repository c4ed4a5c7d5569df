"""The maths, as functions of frames and arrays: decomposition (STL), period values and
coverage, ranks and tiers, north/south splits, demand types, industry profiles, growth and
rank intervals. Nothing here reads the database, a file or the network: `aicity.service`
reads what these functions need and stores or prints what they return (its `queries` and
`compare` are what the commands call; `aicity.importer` reads CSV files).
"""
