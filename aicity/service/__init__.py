"""What the commands do, between the database and the maths: the analyze job (`refit`), the
queries behind rank, split, demand types, industries, movers and compare (`queries`,
`ranked`, `selection`, `compare`), the briefing files (`export`, `cells`) and the HTML
report (`report`). Each reads through `aicity.db`, hands frames and arrays to
`aicity.analysis`, and returns frames or writes files.
"""
