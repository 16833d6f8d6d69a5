"""The live side (docs/METRICS.md section 8): the live answers, the page, the API and the open feeds.

``answers`` is the one place the live answers come from; ``cache`` keeps them
while the lake is unchanged; ``feeds`` writes ParkAPI and DATEX II; ``page``
shapes what the live page draws; ``app`` serves all of it (FastAPI).
"""
